"""Fixtures for the registry tests: one throw-away database per backend, a fresh Registry per test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from allotment.bench.databases import fresh_database
from allotment.infra.database import Database
from allotment.scheduler.registry import Registry
from allotment.scheduler.registry.migrate import upgrade


@pytest.fixture(scope="session")
def registry_url(backend: str) -> Iterator[str]:
    with fresh_database(backend) as url:
        yield url


@pytest.fixture(scope="session")
def registry_db(registry_url: str) -> Iterator[Database]:
    db = Database(registry_url)
    upgrade(db)
    yield db
    db.dispose()


@pytest.fixture
def registry(registry_db: Database) -> Registry:
    """An empty registry with its own snapshot (heartbeats re-read on every call)."""
    reg = Registry(registry_db, service_down_time=60, heartbeat_refresh=0)
    reg.wipe()
    return reg


def new_uuid() -> str:
    return str(uuid.uuid4())
