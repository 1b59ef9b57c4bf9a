"""The RabbitMQ transport: each topic is a durable queue, its subscribers compete for its messages.

Built on pika (README, "Messaging"). pika's connections are not thread-safe, so:

- casts from any thread share one publishing connection behind a lock; a keeper thread
  services its heartbeats while it is idle, and a cast that finds the connection gone
  reconnects and sends again once;
- subscriptions share a consuming connection (a channel each, up to ``MAX_CHANNELS``) read
  by one thread, so a thousand fake computes in one process need one connection; handlers
  run on each subscription's pool of ``workers`` threads, and their acks go back to the
  reading thread through ``add_callback_threadsafe`` (pika's one cross-thread entry point).

Delivery: the queue is declared (durable) by whoever touches the topic first, sender or
receiver, so casts sent while no consumer runs wait for the next one. Messages are marked
persistent but sent without publisher confirms, so a broker that dies before writing one
loses it (at most once from the sender's side). A message is acked after its handler
returns (or raises: a message that always fails must not loop), so a consumer killed while
handling one has it redelivered to another consumer: handlers must tolerate seeing a
message twice (``Message.id`` names it).
"""

from __future__ import annotations

import copy
import logging
import queue
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pika
import pika.exceptions
from pika.adapters.blocking_connection import BlockingChannel

from allotment.servers.transport.base import Handler, Message, TransportError

__all__ = ["DEFAULT_QUEUE_PREFIX", "RabbitTransport", "delete_topics"]

log = logging.getLogger(__name__)

DEFAULT_QUEUE_PREFIX = "allotment."
HEARTBEAT_S = 30
RECONNECT_DELAY_S = (0.2, 0.5, 1.0, 2.0, 5.0)  # then 5 s between tries until closed
MAX_CHANNELS = 1000  # subscriptions per consuming connection (RabbitMQ allows 2,047 channels on one)


def _parameters(url: str) -> tuple[pika.URLParameters, str | None]:
    """pika's parameters for ``url`` (short connect timeout, our heartbeat unless the URL says otherwise),
    and the ``queue_prefix`` the URL names, if any."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    prefix = query.pop("queue_prefix", None)
    query.setdefault("heartbeat", str(HEARTBEAT_S))
    query.setdefault("socket_timeout", "5")
    query.setdefault("connection_attempts", "1")
    # A broker out of memory or disk blocks publishers; fail the cast instead of hanging its caller.
    query.setdefault("blocked_connection_timeout", "30")
    try:
        return pika.URLParameters(urlunsplit(parts._replace(query=urlencode(query)))), prefix
    except (ValueError, TypeError) as exc:
        raise TransportError(f"bad RabbitMQ URL {_redact(url)!r}: {exc}") from exc


def _named(params: pika.URLParameters, name: str) -> pika.URLParameters:
    """A copy of ``params`` whose connection shows as ``name`` in the broker's connection list."""
    named = copy.copy(params)
    named.client_properties = {**(params.client_properties or {}), "connection_name": name}
    return named


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


class _Reader:
    """One consuming connection and the thread that reads it, shared by up to ``MAX_CHANNELS`` subscriptions.

    Every pika call on the connection happens on this thread: other threads hand it work
    through ``call`` (queued, then woken by ``add_callback_threadsafe``). When the connection
    drops, the reader reconnects with backoff and consumes again for every live subscription.
    """

    def __init__(self, owner: RabbitTransport) -> None:
        self._owner = owner
        self.subscriptions: list[_RabbitSubscription] = []
        self._calls: queue.Queue[tuple[Callable[[pika.BlockingConnection], Any], _Result]] = queue.Queue()
        self._stop = threading.Event()
        self._up = threading.Event()
        self.failed: BaseException | None = None  # the first connection could not be made
        self.connection: pika.BlockingConnection | None = None
        self._thread = threading.Thread(target=self._run, name="rabbit-reader", daemon=True)
        self._thread.start()
        self._up.wait()

    @property
    def alive(self) -> bool:
        return self.failed is None and not self._stop.is_set()

    def call(self, fn: Callable[[pika.BlockingConnection], Any]) -> Any:
        """Run ``fn(connection)`` on the reader thread and return its result (or raise its exception)."""
        result = _Result()
        self._calls.put((fn, result))
        connection = self.connection
        if connection is not None:
            try:
                connection.add_callback_threadsafe(self._drain)
            except (pika.exceptions.AMQPError, OSError):
                pass  # reconnecting: the reader drains the queue once it is back
        return result.get()

    def _drain(self) -> None:
        while True:
            try:
                fn, result = self._calls.get_nowait()
            except queue.Empty:
                return
            if self.connection is None:
                result.fail(TransportError("the RabbitMQ connection is down"))
                continue
            try:
                result.set(fn(self.connection))
            except BaseException as exc:  # handed back to the caller, who raises it
                result.fail(exc)

    def _run(self) -> None:
        delays = iter(RECONNECT_DELAY_S)
        while not self._stop.is_set():
            try:
                self._read()
                return
            except (pika.exceptions.AMQPError, OSError) as exc:
                self.connection = None
                if not self._up.is_set():  # the first connection failed: subscribe() reports it
                    self.failed = exc
                    self._up.set()
                    return
                if self._stop.is_set():
                    return
                delay = next(delays, RECONNECT_DELAY_S[-1])
                log.warning("RabbitMQ consumer connection lost (%r); reconnecting in %.1f s", exc, delay)
                self._stop.wait(delay)
        self._drain()

    def _read(self) -> None:
        connection = pika.BlockingConnection(_named(self._owner.parameters,
                                                    f"allotment {self._owner.queue_prefix}* reader"))
        try:
            for sub in list(self.subscriptions):  # after a reconnect: consume again where we were
                sub.attach(connection)
            self.connection = connection
            self._up.set()
            while not self._stop.is_set():
                connection.process_data_events(time_limit=0.25)
                self._drain()
        finally:
            self.connection = None
            self._drain()  # callers still waiting get an error instead of hanging
            if connection.is_open:
                try:
                    connection.close()
                except pika.exceptions.AMQPError:
                    pass

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join()


class _Result:
    def __init__(self) -> None:
        self._done = threading.Event()
        self._value: Any = None
        self._error: BaseException | None = None

    def set(self, value: Any) -> None:
        self._value = value
        self._done.set()

    def fail(self, error: BaseException) -> None:
        self._error = error
        self._done.set()

    def get(self) -> Any:
        self._done.wait()
        if self._error is not None:
            raise self._error
        return self._value


class _RabbitSubscription:
    """A channel on a reader's connection consuming the topic's queue, and a pool of ``workers`` handler threads."""

    def __init__(self, owner: RabbitTransport, reader: _Reader, topic: str, handler: Handler, workers: int) -> None:
        self.topic = topic
        self._owner = owner
        self._reader = reader
        self._handler = handler
        self._workers = max(1, workers)
        # Threads start as messages arrive, so a thousand idle computes in one process cost no threads.
        self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix=f"rabbit-{topic}")
        self._channel: BlockingChannel | None = None
        self._tag: str | None = None
        self._closed = False

    def attach(self, connection: pika.BlockingConnection) -> None:
        """Open a channel and start consuming (on the reader thread); a no-op while the channel is open."""
        if self._closed or (self._channel is not None and self._channel.is_open):
            return
        channel = connection.channel()
        # Prefetch two per worker: the pool never starves, and a slow consumer holds few of the topic's messages.
        channel.basic_qos(prefetch_count=2 * self._workers)
        queue_name = self._owner.queue_name(self.topic)
        channel.queue_declare(queue_name, durable=True)
        self._tag = channel.basic_consume(queue_name, self._on_message(connection, channel))
        self._channel = channel

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
            try:
                self._pool.submit(handle, body, method.delivery_tag)
            except RuntimeError:
                pass  # closing: left unacked, the message goes back to the queue when the channel closes

        return on_message

    def _cancel(self, connection: pika.BlockingConnection) -> None:
        if self._channel is not None and self._channel.is_open and self._tag is not None:
            self._channel.basic_cancel(self._tag)

    def _close_channel(self, connection: pika.BlockingConnection) -> None:
        if self._channel is not None and self._channel.is_open:
            self._channel.close()
        self._channel = None

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._owner._forget(self)
        try:
            self._reader.call(self._cancel)
        except (pika.exceptions.AMQPError, OSError, TransportError):
            pass  # the connection is down: nothing more will be delivered anyway
        # Handlers under way finish and queue their acks; those not started are dropped here and,
        # unacked, go back to the queue when the channel closes (after the acks, which were queued first).
        self._pool.shutdown(wait=True, cancel_futures=True)
        try:
            self._reader.call(self._close_channel)
        except (pika.exceptions.AMQPError, OSError, TransportError):
            pass


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
        self._readers: list[_Reader] = []
        self._closed = False
        self._publisher = _Publisher(_named(self.parameters, f"allotment {self.queue_prefix}* publisher"), url,
                                     self.queue_name)

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
        with self._lock:
            reader = next((r for r in self._readers if r.alive and len(r.subscriptions) < MAX_CHANNELS), None)
            if reader is None:
                reader = _Reader(self)
                if reader.failed is not None:
                    raise TransportError(f"cannot subscribe to {topic} at {_redact(self.url)}: {reader.failed!r}")
                self._readers.append(reader)
            sub = _RabbitSubscription(self, reader, topic, handler, workers)
            reader.subscriptions.append(sub)
            self._subscriptions.append(sub)
        try:
            reader.call(sub.attach)
        except (pika.exceptions.AMQPError, OSError, TransportError) as exc:
            sub.close()
            raise TransportError(f"cannot subscribe to {topic} at {_redact(self.url)}: {exc!r}") from exc
        return sub

    def delete_topic(self, topic: str) -> None:
        """Drop the topic's queue and every message in it (a host taken out of service for good)."""
        self._publisher.delete_queue(topic)

    def _forget(self, sub: _RabbitSubscription) -> None:
        with self._lock:
            if sub in self._subscriptions:
                self._subscriptions.remove(sub)
            for reader in self._readers:
                if sub in reader.subscriptions:
                    reader.subscriptions.remove(sub)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            subs = list(self._subscriptions)
        for sub in subs:
            sub.close()
        with self._lock:
            readers, self._readers = self._readers, []
        for reader in readers:
            reader.stop()
        self._publisher.close()


def delete_topics(url: str, topics: Iterable[str]) -> None:
    """Drop the queues of ``topics`` at the broker of ``url`` (a run's or a test's clean-up)."""
    cleaner = RabbitTransport(url)
    try:
        for topic in topics:
            cleaner.delete_topic(topic)
    finally:
        cleaner.close()
