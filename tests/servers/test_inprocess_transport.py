"""The in-process transport: delivery, round-robin between subscribers, JSON-only payloads, close."""

from __future__ import annotations

import threading

import pytest

from allotment.servers.transport import Message, TransportError, open_transport


def test_cast_reaches_the_subscriber_with_its_payload() -> None:
    transport = open_transport("inprocess://")
    got: list[Message] = []
    done = threading.Event()

    def handler(message: Message) -> None:
        got.append(message)
        done.set()

    transport.subscribe("compute.host1", handler)
    sent = Message("build", {"instance": "abc", "attempt": 1})
    transport.cast("compute.host1", sent)
    assert done.wait(5)
    transport.close()
    assert got == [sent]


def test_casts_alternate_between_subscribers_of_a_topic() -> None:
    transport = open_transport()
    seen: dict[str, int] = {"a": 0, "b": 0}
    all_done = threading.Semaphore(0)

    def counter(name: str):  # type: ignore[no-untyped-def]
        def handle(message: Message) -> None:
            seen[name] += 1
            all_done.release()
        return handle

    transport.subscribe("conductor", counter("a"))
    transport.subscribe("conductor", counter("b"))
    for i in range(10):
        transport.cast("conductor", Message("noop", {"i": i}))
    for _ in range(10):
        assert all_done.acquire(timeout=5)
    transport.close()
    assert seen == {"a": 5, "b": 5}


def test_a_failing_handler_does_not_stop_the_topic() -> None:
    transport = open_transport()
    ok = threading.Event()

    def handler(message: Message) -> None:
        if message.payload["fail"]:
            raise RuntimeError("boom")
        ok.set()

    transport.subscribe("t", handler)
    transport.cast("t", Message("x", {"fail": True}))
    transport.cast("t", Message("x", {"fail": False}))
    assert ok.wait(5)
    transport.close()


def test_payloads_must_be_json_and_closed_transports_refuse() -> None:
    transport = open_transport()
    transport.subscribe("t", lambda m: None)
    with pytest.raises(TypeError):
        transport.cast("t", Message("x", {"bad": object()}))
    transport.close()
    with pytest.raises(TransportError):
        transport.cast("t", Message("x", {}))


def test_unknown_scheme_is_refused_with_the_choices() -> None:
    with pytest.raises(TransportError, match="inprocess://"):
        open_transport("kafka://somewhere")
