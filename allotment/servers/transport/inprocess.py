"""The embedded transport: one queue per topic, worker threads per subscription, in this process."""

from __future__ import annotations

import logging
import queue
import threading
from collections import defaultdict

from allotment.servers.transport.base import Handler, Message, TransportError

log = logging.getLogger(__name__)

_STOP = object()


class _Subscription:
    def __init__(self, topic: str, handler: Handler, workers: int, owner: InProcessTransport) -> None:
        self.topic = topic
        self.queue: queue.Queue[object] = queue.Queue()
        self._handler = handler
        self._owner = owner
        self._threads = [threading.Thread(target=self._run, name=f"transport-{topic}-{i}", daemon=True)
                         for i in range(max(1, workers))]
        for t in self._threads:
            t.start()

    def _run(self) -> None:
        while True:
            item = self.queue.get()
            if item is _STOP:
                return
            assert isinstance(item, bytes)
            try:
                self._handler(Message.decode(item))
            except Exception:  # a failing handler must not stop the topic: log it, like a broker consumer would
                log.exception("handler for %s failed", self.topic)

    def close(self) -> None:
        self._owner._unsubscribe(self)
        for _ in self._threads:
            self.queue.put(_STOP)
        for t in self._threads:
            if t is not threading.current_thread():
                t.join()


class InProcessTransport:
    """Casts go round-robin to the subscriptions of a topic; a cast to a topic nobody serves is dropped."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subs: dict[str, list[_Subscription]] = defaultdict(list)
        self._next: dict[str, int] = defaultdict(int)
        self._closed = False

    def cast(self, topic: str, message: Message) -> None:
        raw = message.encode()  # the same bytes a broker would carry, so payloads that are not JSON fail here too
        with self._lock:
            if self._closed:
                raise TransportError("transport is closed")
            subs = self._subs.get(topic)
            if not subs:
                log.warning("no subscriber on %s: %s dropped", topic, message.method)
                return
            sub = subs[self._next[topic] % len(subs)]
            self._next[topic] += 1
        sub.queue.put(raw)

    def subscribe(self, topic: str, handler: Handler, *, workers: int = 1) -> _Subscription:
        with self._lock:
            if self._closed:
                raise TransportError("transport is closed")
        sub = _Subscription(topic, handler, workers, self)
        with self._lock:
            self._subs[topic].append(sub)
        return sub

    def _unsubscribe(self, sub: _Subscription) -> None:
        with self._lock:
            if sub in self._subs.get(sub.topic, []):
                self._subs[sub.topic].remove(sub)

    def close(self) -> None:
        with self._lock:
            subs = [s for group in self._subs.values() for s in group]
            self._closed = True
        for sub in subs:
            sub.close()
