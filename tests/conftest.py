"""Shared fixtures: real databases (SQLite always; PostgreSQL and MariaDB when their
servers answer, and required when CI is set) and in-process API clients."""

from __future__ import annotations

import os
from collections.abc import Iterator

import httpx
import pytest
import sqlalchemy as sa

from allotment.bench.databases import BACKENDS, backend_available, fresh_database
from allotment.infra.database import Database
from allotment.placement.api.app import make_app
from allotment.placement.config import Config
from allotment.placement.schema import upgrade
from allotment.placement.store import tables

ADMIN = {"x-auth-token": "admin", "openstack-api-version": "placement latest"}


def require_backend(backend: str) -> None:
    """Skip (or, under CI, fail) when the backend's server cannot be reached."""
    ok, reason = backend_available(backend)
    if ok:
        return
    if os.environ.get("CI"):
        pytest.fail(f"CI requires {backend}: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    require_backend(request.param)
    return str(request.param)


@pytest.fixture(scope="session")
def session_store(backend: str) -> Iterator[Database]:
    with fresh_database(backend) as url:
        store = Database(url)
        upgrade(store)
        yield store
        store.dispose()


def reset(store: Database) -> None:
    """Empty every table but the standard names, which are re-synced."""
    from allotment.placement.domain.names import CUSTOM_CLASS_MIN_ID, sync_standard_names

    def wipe(conn: sa.Connection) -> None:
        conn.execute(tables.changes.delete())
        conn.execute(tables.allocations.delete())
        conn.execute(tables.consumers.delete())
        conn.execute(tables.inventories.delete())
        conn.execute(tables.provider_aggregates.delete())
        conn.execute(tables.provider_traits.delete())
        conn.execute(tables.providers.update().values(root_provider_id=None, parent_provider_id=None))
        conn.execute(tables.providers.delete())
        for t in (tables.aggregates, tables.projects, tables.users, tables.consumer_types):
            conn.execute(t.delete())
        conn.execute(tables.resource_classes.delete().where(tables.resource_classes.c.id >= CUSTOM_CLASS_MIN_ID))
        conn.execute(tables.traits.delete().where(tables.traits.c.name.like("CUSTOM\\_%", escape="\\")))
        sync_standard_names(conn)

    store.write(wipe)


@pytest.fixture
def store(session_store: Database) -> Database:
    reset(session_store)
    return session_store


@pytest.fixture
def config() -> Config:
    # The legacy rules, as upstream's own API test fixture sets them (admin may reshape);
    # tests of the secure-RBAC defaults build their Config themselves.
    return Config(enforce_new_defaults=False)


@pytest.fixture
def api(store: Database, config: Config) -> Iterator[httpx.Client]:
    """An httpx client for the full placement app in-process, as admin at the latest microversion."""
    app = make_app(config, store)
    with httpx.Client(transport=httpx.WSGITransport(app=app), base_url="http://placement", headers=ADMIN) as c:
        yield c
