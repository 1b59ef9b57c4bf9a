"""What only the RabbitMQ transport promises: durable topics, processes on both ends,
redelivery of a message whose consumer died, and clear errors without a broker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest

from allotment.servers.transport import Message, TransportError, open_transport
from allotment.servers.transport.rabbit import RabbitTransport
from allotment.servers.transport.rabbit import delete_topics
from tests.servers.rabbit import isolated_url, require_broker
from tests.servers.test_transport_contract import Inbox

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def url() -> Iterator[str]:
    require_broker()
    u = isolated_url()
    yield u
    delete_topics(u, {"compute.later", "compute.gone", "conductor", "compute.two"})


def peer(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "tests.servers.rabbit_peer", *args], cwd=ROOT,
                            stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})


def stop(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.stdout is not None
    proc.stdout.close()


def read_until(proc: subprocess.Popen[str], want: str) -> list[str]:
    lines = []
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line.strip())
        if line.strip() == want:
            return lines
    raise AssertionError(f"peer ended before {want!r}: {lines}")


def test_casts_sent_while_no_consumer_runs_wait_for_the_next_one(url: str) -> None:
    sender = open_transport(url)
    for i in range(3):
        sender.cast("compute.later", Message("build", {"i": i}))
    first = open_transport(url)
    inbox = Inbox()
    sub = first.subscribe("compute.later", inbox)
    assert [m.payload["i"] for m in inbox.wait_for(3)] == [0, 1, 2]
    sub.close()
    first.close()
    # The consumer is away (a compute restarting): casts queue up for its successor.
    sender.cast("compute.later", Message("build", {"i": 3}))
    second = open_transport(url)
    again = Inbox()
    second.subscribe("compute.later", again)
    assert [m.payload["i"] for m in again.wait_for(1)] == [3]
    second.close()
    sender.close()


def test_a_publisher_process_reaches_a_consumer_process(url: str) -> None:
    consumer = peer("consume", url, "compute.two", "0")
    try:
        read_until(consumer, "ready")
        publisher = subprocess.run([sys.executable, "-m", "tests.servers.rabbit_peer", "publish", url,
                                    "compute.two", "50"], cwd=ROOT, timeout=30)
        assert publisher.returncode == 0
        lines = read_until(consumer, "handled 49")
        assert sorted(int(x.split()[1]) for x in lines if x.startswith("handled")) == list(range(50))
    finally:
        stop(consumer)


def test_a_message_whose_consumer_was_killed_mid_handling_is_redelivered(url: str) -> None:
    consumer = peer("consume", url, "conductor", "60")  # takes a minute per message: it will not finish
    try:
        read_until(consumer, "ready")
        sender = open_transport(url)
        sender.cast("conductor", Message("build", {"i": 7}))
        read_until(consumer, "started 7")
    finally:
        stop(consumer)  # SIGKILL: no chance to ack or to close the connection cleanly
    survivor = open_transport(url)
    inbox = Inbox()
    survivor.subscribe("conductor", inbox)
    assert [m.payload["i"] for m in inbox.wait_for(1)] == [7]
    survivor.close()
    sender.close()


def test_deleting_a_topic_drops_its_waiting_casts(url: str) -> None:
    t = open_transport(url)
    t.cast("compute.gone", Message("build", {"i": 1}))
    assert isinstance(t, RabbitTransport)
    t.delete_topic("compute.gone")
    inbox = Inbox()
    t.subscribe("compute.gone", inbox)
    t.cast("compute.gone", Message("build", {"i": 2}))
    assert [m.payload["i"] for m in inbox.wait_for(1)] == [2]
    t.close()


def test_the_queue_prefix_comes_from_the_url_or_the_argument() -> None:
    assert RabbitTransport("amqp://guest:guest@127.0.0.1:1/?queue_prefix=cell1.").queue_name("conductor") == \
        "cell1.conductor"
    t = RabbitTransport("amqp://guest:guest@127.0.0.1:1/", queue_prefix="x.")
    assert t.queue_name("compute.h") == "x.compute.h"
    t.close()
    assert RabbitTransport("amqp://127.0.0.1:1/").queue_name("conductor") == "allotment.conductor"


def test_without_a_broker_casts_and_subscriptions_fail_clearly() -> None:
    t = open_transport("amqp://guest:secret@127.0.0.1:1/")  # nothing listens on port 1
    with pytest.raises(TransportError, match="cannot reach RabbitMQ at amqp://guest:\\*\\*\\*@127.0.0.1:1/"):
        t.cast("conductor", Message("m", {}))
    with pytest.raises(TransportError, match="cannot subscribe to conductor"):
        t.subscribe("conductor", lambda m: None)
    t.close()


def test_a_bad_url_is_refused() -> None:
    with pytest.raises(TransportError, match="bad RabbitMQ URL"):
        open_transport("amqp://guest:guest@127.0.0.1:5672/?heartbeat=often")


def close_broker_connections(url: str, role: str) -> int:
    """Make the broker drop this test's ``role`` (reader or publisher) connections, as a broker restart would."""
    prefix = dict(parse_qsl(urlsplit(url).query))["queue_prefix"]
    try:
        listing = subprocess.run(["rabbitmqctl", "list_connections", "-q", "--no-table-headers", "pid",
                                  "client_properties"], capture_output=True, text=True, timeout=30, check=True)
    except (OSError, subprocess.SubprocessError) as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"rabbitmqctl cannot list the broker's connections here: {exc!r}")
    closed = 0
    for line in listing.stdout.splitlines():
        if f'"allotment {prefix}* {role}"' in line:
            pid = line.split("\t", 1)[0]
            subprocess.run(["rabbitmqctl", "close_connection", pid, "test: connection dropped"],
                           capture_output=True, timeout=30, check=True)
            closed += 1
    return closed


def test_both_connections_come_back_after_the_broker_drops_them(url: str) -> None:
    t = open_transport(url)
    inbox = Inbox()
    t.subscribe("conductor", inbox, workers=2)
    t.cast("conductor", Message("m", {"i": 0}))
    inbox.wait_for(1)
    assert close_broker_connections(url, "reader") == 1
    assert close_broker_connections(url, "publisher") == 1
    # The first cast finds the publisher's connection gone and sends again on a new one;
    # the reader reconnects on its own and consumes again.
    t.cast("conductor", Message("m", {"i": 1}))
    assert [m.payload["i"] for m in inbox.wait_for(2, timeout=20)] == [0, 1]
    t.close()
