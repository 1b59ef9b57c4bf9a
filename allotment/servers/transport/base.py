"""What every transport offers: fire-and-forget casts to a topic, and subscribers on a topic.

Delivery is at most once: a message may be lost (a process killed, a broker restarted), so
nothing in the servers flow may depend on a cast arriving; the conductor's audit heals what
a lost message leaves behind. Payloads must be JSON (they cross process boundaries).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson


class TransportError(Exception):
    """The transport cannot send or subscribe (bad URL, broker unreachable)."""


@dataclass(frozen=True)
class Message:
    """One cast: the method the receiver runs, its JSON payload, and where it came from."""

    method: str
    payload: dict[str, Any]
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    sent_at: float = field(default_factory=time.time)

    def encode(self) -> bytes:
        return orjson.dumps({"method": self.method, "payload": self.payload, "id": self.id, "sent_at": self.sent_at})

    @classmethod
    def decode(cls, raw: bytes) -> Message:
        data = orjson.loads(raw)
        return cls(method=data["method"], payload=data["payload"], id=data["id"], sent_at=data["sent_at"])


Handler = Callable[[Message], None]


class Subscription(Protocol):
    def close(self) -> None:
        """Stop receiving; messages being handled finish first."""


class Transport(Protocol):
    def cast(self, topic: str, message: Message) -> None:
        """Send without waiting for the receiver; raises TransportError when it cannot be sent."""

    def subscribe(self, topic: str, handler: Handler, *, workers: int = 1) -> Subscription:
        """Run ``handler`` for each message on ``topic``, ``workers`` at a time."""

    def close(self) -> None:
        """Close every subscription and the connection."""


def open_transport(url: str = "inprocess://") -> Transport:
    scheme = url.split(":", 1)[0].lower()
    if scheme == "inprocess":
        from allotment.servers.transport.inprocess import InProcessTransport

        return InProcessTransport()
    if scheme in ("amqp", "amqps"):
        import importlib

        try:  # imported by name: the RabbitMQ client library is only needed by deployments that use it
            rabbit = importlib.import_module("allotment.servers.transport.rabbit")
        except ImportError as exc:
            raise TransportError(f"no RabbitMQ transport available for {url!r}: {exc}") from exc
        transport: Transport = rabbit.RabbitTransport(url)
        return transport
    raise TransportError(f"unknown transport URL {url!r}: use inprocess:// or amqp://user:pass@host:port/")
