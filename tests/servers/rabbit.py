"""Reaching the test RabbitMQ broker: ``ALLOTMENT_AMQP_URL`` (default guest@127.0.0.1:5672),
skipped with the reason when it does not answer, and required when CI is set."""

from __future__ import annotations

import os
import uuid

import pytest

AMQP_URL = os.environ.get("ALLOTMENT_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")


def broker_available() -> tuple[bool, str]:
    try:
        import pika
        import pika.exceptions
    except ImportError as exc:
        return False, f"RabbitMQ client library missing: {exc}"
    params = pika.URLParameters(AMQP_URL)
    params.socket_timeout = 2
    params.connection_attempts = 1
    try:
        pika.BlockingConnection(params).close()
    except (pika.exceptions.AMQPError, OSError) as exc:
        return False, f"no RabbitMQ broker at {params.host}:{params.port} (ALLOTMENT_AMQP_URL): {exc!r}"
    return True, ""


def require_broker() -> None:
    ok, reason = broker_available()
    if ok:
        return
    if os.environ.get("CI"):
        pytest.fail(f"CI requires RabbitMQ: {reason}")
    pytest.skip(reason)


def isolated_url() -> str:
    """The broker URL with a queue prefix of its own, so a test sees no other test's queues."""
    sep = "&" if "?" in AMQP_URL else "?"
    return f"{AMQP_URL}{sep}queue_prefix=test-{uuid.uuid4().hex[:12]}."

