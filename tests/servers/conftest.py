"""A fresh database per test on each backend (the shared ``backend`` fixture: SQLite always, PG/MariaDB when up)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from allotment.bench.databases import fresh_database


@pytest.fixture
def db_url(backend: str) -> Iterator[str]:
    with fresh_database(backend) as url:
        yield url
