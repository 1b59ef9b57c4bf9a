"""The RabbitMQ transport: each topic is a durable queue, its subscribers compete for its messages.

Built on pika (README, "Messaging"). pika's connections are not thread-safe, so:

- casts from any thread share one publishing connection behind a lock; a keeper thread
  services its heartbeats while it is idle, and a cast that finds the connection gone
  reconnects and sends again once;
- each subscription owns a connection and the thread that reads it; handlers run on a pool
  of ``workers`` threads, and their acks go back to the reading thread through
  ``add_callback_threadsafe`` (pika's one cross-thread entry point).

Delivery: the queue is declared (durable) by whoever touches the topic first, sender or
receiver, so casts sent while no consumer runs wait for the next one. Messages are marked
persistent but sent without publisher confirms, so a broker that dies before writing one
loses it (at most once from the sender's side). A message is acked after its handler
returns (or raises: a message that always fails must not loop), so a consumer killed while
handling one has it redelivered to another consumer: handlers must tolerate seeing a
message twice (``Message.id`` names it).
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pika
import pika.exceptions
from pika.adapters.blocking_connection import BlockingChannel

from allotment.servers.transport.base import Handler, Message, TransportError

__all__ = ["DEFAULT_QUEUE_PREFIX", "RabbitTransport"]

log = logging.getLogger(__name__)

DEFAULT_QUEUE_PREFIX = "allotment."
HEARTBEAT_S = 30
RECONNECT_DELAY_S = (0.2, 0.5, 1.0, 2.0, 5.0)  # then 5 s between tries until closed


def _parameters(url: str) -> tuple[pika.URLParameters, str | None]:
    """pika's parameters for ``url`` (short connect timeout, our heartbeat unless the URL says otherwise),
    and the ``queue_prefix`` the URL names, if any."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    prefix = query.pop("queue_prefix", None)
    query.setdefault("heartbeat", str(HEARTBEAT_S))
    query.setdefault("socket_timeout", "5")
    query.setdefault("connection_attempts", "1")
    try:
        return pika.URLParameters(urlunsplit(parts._replace(query=urlencode(query)))), prefix
    except (ValueError, TypeError) as exc:
        raise TransportError(f"bad RabbitMQ URL {_redact(url)!r}: {exc}") from exc


def _redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@")))


class _Publisher:
    """One connection for every cast of this transport, used under a lock."""

    def __init__(self, params: pika.URLParameters, url: str, queue_name: Any) -> None:
        self._params = params
        self._url = url
        self._queue_name = queue_name
        self._lock = threading.Lock()
        self._connection: pika.BlockingConnection | None = None
        self._channel: BlockingChannel | None = None
        self._declared: set[str] = set()
        self._closed = threading.Event()
        self._keeper = threading.Thread(target=self._keep_alive, name="rabbit-publisher-heartbeat", daemon=True)
        self._keeper.start()

    def _connect(self) -> BlockingChannel:
        if self._channel is not None and self._channel.is_open:
            return self._channel
        self._drop()
        try:
            self._connection = pika.BlockingConnection(self._params)
            self._channel = self._connection.channel()
        except pika.exceptions.AMQPError as exc:
            self._drop()
            raise TransportError(f"cannot reach RabbitMQ at {_redact(self._url)}: {exc!r}") from exc
        return self._channel

    def _drop(self) -> None:
        connection, self._connection, self._channel = self._connection, None, None
        self._declared.clear()
        if connection is not None and connection.is_open:
            try:
                connection.close()
            except pika.exceptions.AMQPError:  # already failing: closing is best effort
                pass

    def publish(self, topic: str, body: bytes, message_id: str) -> None:
        name = self._queue_name(topic)
        properties = pika.BasicProperties(delivery_mode=pika.DeliveryMode.Persistent.value,
                                          content_type="application/json", message_id=message_id)
        with self._lock:
            if self._closed.is_set():
                raise TransportError("transport is closed")
            for attempt in (1, 2):  # the second try is on a fresh connection, the first may have gone stale
                channel = self._connect()
                try:
                    if name not in self._declared:
                        channel.queue_declare(name, durable=True)
                        self._declared.add(name)
                    channel.basic_publish("", name, body, properties)
                    return
                except (pika.exceptions.AMQPError, OSError) as exc:
                    self._drop()
                    if attempt == 2:
                        raise TransportError(f"cast to {topic} failed: {exc!r}") from exc

    def delete_queue(self, topic: str) -> None:
        with self._lock:
            channel = self._connect()
            channel.queue_delete(self._queue_name(topic))
            self._declared.discard(self._queue_name(topic))

    def _keep_alive(self) -> None:
        while not self._closed.wait(HEARTBEAT_S / 3):
            with self._lock:
                if self._connection is None or not self._connection.is_open:
                    continue
                try:
                    self._connection.process_data_events(0)
                except (pika.exceptions.AMQPError, OSError):
                    self._drop()  # the next cast reconnects

    def close(self) -> None:
        with self._lock:
            self._closed.set()
            self._drop()
        self._keeper.join()


class _RabbitSubscription:
    """A reading thread with its own connection, and a pool of ``workers`` handler threads."""

    def __init__(self, owner: RabbitTransport, topic: str, handler: Handler, workers: int) -> None:
        self.topic = topic
        self._owner = owner
        self._handler = handler
        self._workers = max(1, workers)
        self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix=f"rabbit-{topic}")
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._connection: pika.BlockingConnection | None = None
        self._thread = threading.Thread(target=self._run, name=f"rabbit-consumer-{topic}", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            self._stop.set()
            self._thread.join()
            self._pool.shutdown(wait=False)
            raise TransportError(f"cannot subscribe to {topic} at {_redact(owner.url)}: {self._error!r}")

    def _run(self) -> None:
        delays = iter(RECONNECT_DELAY_S)
        while not self._stop.is_set():
            try:
                self._consume()
                delays = iter(RECONNECT_DELAY_S)
            except (pika.exceptions.AMQPError, OSError) as exc:
                if not self._ready.is_set():  # the first connection failed: subscribe() reports it
                    self._error = exc
                    self._ready.set()
                    return
                if self._stop.is_set():
                    return
                delay = next(delays, RECONNECT_DELAY_S[-1])
                log.warning("subscription to %s lost (%r); reconnecting in %.1f s", self.topic, exc, delay)
                self._stop.wait(delay)

    def _consume(self) -> None:
        connection = pika.BlockingConnection(self._owner.parameters)
        self._connection = connection
        try:
            channel = connection.channel()
            # Prefetch two per worker: the pool never starves, and a slow consumer holds few of the topic's messages.
            channel.basic_qos(prefetch_count=2 * self._workers)
            queue = self._owner.queue_name(self.topic)
            channel.queue_declare(queue, durable=True)
            channel.basic_consume(queue, self._on_message(connection, channel))
            self._ready.set()
            while not self._stop.is_set():
                connection.process_data_events(time_limit=0.25)
            # Handlers under way finish and ack; those not started stay unacked and go back to the queue.
            self._pool.shutdown(wait=True, cancel_futures=True)
            connection.process_data_events(0)
        finally:
            self._connection = None
            if connection.is_open:
                try:
                    connection.close()
                except pika.exceptions.AMQPError:
                    pass

    def _on_message(self, connection: pika.BlockingConnection, channel: BlockingChannel) -> Any:
        def ack(tag: int) -> None:
            if channel.is_open:
                channel.basic_ack(tag)

        def handle(body: bytes, tag: int) -> None:
            try:
                self._handler(Message.decode(body))
            except Exception:  # a failing handler must not stop the topic; its message is acked so it cannot loop
                log.exception("handler for %s failed", self.topic)
            try:
                connection.add_callback_threadsafe(lambda: ack(tag))
            except (pika.exceptions.AMQPError, OSError):
                pass  # the connection is gone: the broker redelivers the message to another consumer

        def on_message(ch: BlockingChannel, method: Any, properties: Any, body: bytes) -> None:
            self._pool.submit(handle, body, method.delivery_tag)

        return on_message

    def close(self) -> None:
        self._owner._forget(self)
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join()
        self._pool.shutdown(wait=True, cancel_futures=True)


class RabbitTransport:
    """The Transport protocol over RabbitMQ at ``url`` (``amqp://user:pass@host:port/vhost``).

    Queues are named ``queue_prefix + topic`` (the ``queue_prefix`` argument, else the URL's
    ``?queue_prefix=``, else ``allotment.``), so several deployments or test runs can share a
    broker without seeing each other's casts.
    """

    def __init__(self, url: str, *, queue_prefix: str | None = None) -> None:
        self.url = url
        self.parameters, url_prefix = _parameters(url)
        self.queue_prefix = queue_prefix if queue_prefix is not None else (url_prefix or DEFAULT_QUEUE_PREFIX)
        #: Every topic this transport has cast to or subscribed to (so a test can delete their queues).
        self.topics: set[str] = set()
        self._lock = threading.Lock()
        self._subscriptions: list[_RabbitSubscription] = []
        self._closed = False
        self._publisher = _Publisher(self.parameters, url, self.queue_name)

    def queue_name(self, topic: str) -> str:
        return self.queue_prefix + topic

    def cast(self, topic: str, message: Message) -> None:
        body = message.encode()  # before anything else: a payload that is not JSON fails here, as in-process
        self.topics.add(topic)
        self._publisher.publish(topic, body, message.id)

    def subscribe(self, topic: str, handler: Handler, *, workers: int = 1) -> _RabbitSubscription:
        with self._lock:
            if self._closed:
                raise TransportError("transport is closed")
        self.topics.add(topic)
        sub = _RabbitSubscription(self, topic, handler, workers)
        with self._lock:
            self._subscriptions.append(sub)
        return sub

    def delete_topic(self, topic: str) -> None:
        """Drop the topic's queue and every message in it (a host taken out of service for good)."""
        self._publisher.delete_queue(topic)

    def _forget(self, sub: _RabbitSubscription) -> None:
        with self._lock:
            if sub in self._subscriptions:
                self._subscriptions.remove(sub)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            subs = list(self._subscriptions)
        for sub in subs:
            sub.close()
        self._publisher.close()
