"""The Transport contract, the same cases over the in-process transport and over RabbitMQ."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator

import pytest

from allotment.servers.transport import Message, Transport, TransportError, open_transport
from allotment.servers.transport.rabbit import delete_topics
from tests.servers.rabbit import isolated_url, require_broker

TransportFactory = Callable[[], Transport]


@pytest.fixture(params=["inprocess", "rabbit"])
def make_transport(request: pytest.FixtureRequest) -> Iterator[TransportFactory]:
    """Open transports that share one broker (or one process) and are closed after the test."""
    opened: list[Transport] = []
    if request.param == "inprocess":
        shared = open_transport("inprocess://")  # in-process transports cannot reach each other: one serves all
        opened.append(shared)

        def make() -> Transport:
            return shared
    else:
        require_broker()
        url = isolated_url()

        def make() -> Transport:
            t = open_transport(url)
            opened.append(t)
            return t
    yield make
    topics: set[str] = set()
    for t in opened:
        topics |= getattr(t, "topics", set())
        t.close()
    if request.param == "rabbit" and topics:
        delete_topics(url, topics)


class Inbox:
    """A handler that records what it got and lets the test wait for a count."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self._cond = threading.Condition()

    def __call__(self, message: Message) -> None:
        with self._cond:
            self.messages.append(message)
            self._cond.notify_all()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Message]:
        with self._cond:
            assert self._cond.wait_for(lambda: len(self.messages) >= count, timeout), \
                f"got {len(self.messages)} of {count} messages"
            return list(self.messages)


def test_a_cast_reaches_the_subscriber_intact(make_transport: TransportFactory) -> None:
    t = make_transport()
    inbox = Inbox()
    t.subscribe("compute.host1", inbox)
    sent = Message("build_and_run", {"instance": "abc", "attempt": 1, "hosts": ["h1", "h2"], "ratio": 1.5})
    t.cast("compute.host1", sent)
    assert inbox.wait_for(1) == [sent]


def test_topics_do_not_mix(make_transport: TransportFactory) -> None:
    t = make_transport()
    a, b = Inbox(), Inbox()
    t.subscribe("compute.a", a)
    t.subscribe("compute.b", b)
    for i in range(5):
        t.cast("compute.a", Message("m", {"i": i}))
    t.cast("compute.b", Message("m", {"i": 99}))
    assert [m.payload["i"] for m in a.wait_for(5)] == [0, 1, 2, 3, 4]  # one worker: in order
    assert [m.payload["i"] for m in b.wait_for(1)] == [99]


def test_subscribers_of_a_topic_compete_each_message_is_handled_once(make_transport: TransportFactory) -> None:
    sender, left, right = make_transport(), make_transport(), make_transport()
    a, b = Inbox(), Inbox()
    left.subscribe("conductor", a)
    right.subscribe("conductor", b)
    for i in range(40):
        sender.cast("conductor", Message("noop", {"i": i}))
    deadline = time.monotonic() + 10
    while len(a.messages) + len(b.messages) < 40 and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.2)  # a duplicate would arrive now
    got = Counter(m.payload["i"] for m in a.messages + b.messages)
    assert got == Counter(range(40))
    assert a.messages and b.messages  # both consumers took a share


def test_casts_from_many_threads_all_arrive_once(make_transport: TransportFactory) -> None:
    t = make_transport()
    inbox = Inbox()
    t.subscribe("conductor", inbox, workers=4)
    threads_n, per_thread = 8, 100

    def send(k: int) -> None:
        for i in range(per_thread):
            t.cast("conductor", Message("m", {"k": k, "i": i}))

    threads = [threading.Thread(target=send, args=(k,)) for k in range(threads_n)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    got = inbox.wait_for(threads_n * per_thread)
    assert Counter((m.payload["k"], m.payload["i"]) for m in got) == Counter(
        (k, i) for k in range(threads_n) for i in range(per_thread))


def test_workers_handle_messages_at_the_same_time(make_transport: TransportFactory) -> None:
    t = make_transport()
    workers = 3
    barrier = threading.Barrier(workers, timeout=10)
    passed = Inbox()

    def handler(message: Message) -> None:
        barrier.wait()  # only passes when `workers` handlers run at once
        passed(message)

    t.subscribe("compute.busy", handler, workers=workers)
    for i in range(workers):
        t.cast("compute.busy", Message("m", {"i": i}))
    assert len(passed.wait_for(workers)) == workers


def test_a_failing_handler_does_not_stop_the_topic(make_transport: TransportFactory) -> None:
    t = make_transport()
    inbox = Inbox()

    def handler(message: Message) -> None:
        if message.payload["fail"]:
            raise RuntimeError("boom")
        inbox(message)

    t.subscribe("t", handler)
    t.cast("t", Message("x", {"fail": True}))
    t.cast("t", Message("x", {"fail": False}))
    assert [m.payload for m in inbox.wait_for(1)] == [{"fail": False}]


def test_closing_a_subscription_lets_the_handler_under_way_finish(make_transport: TransportFactory) -> None:
    t = make_transport()
    started, finished = threading.Event(), threading.Event()

    def slow(message: Message) -> None:
        started.set()
        time.sleep(0.3)
        finished.set()

    sub = t.subscribe("slow", slow)
    t.cast("slow", Message("x", {}))
    assert started.wait(10)
    sub.close()
    assert finished.is_set()


def test_payloads_must_be_json_and_closed_transports_refuse(make_transport: TransportFactory) -> None:
    t = make_transport()
    t.subscribe("t", lambda m: None)
    with pytest.raises(TypeError):
        t.cast("t", Message("x", {"bad": object()}))
    t.close()
    with pytest.raises(TransportError):
        t.cast("t", Message("x", {}))
    with pytest.raises(TransportError):
        t.subscribe("t", lambda m: None)
