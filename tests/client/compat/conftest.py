"""Fixtures for running the real OpenStack clients against a real allotment server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from allotment.bench.servers import RunningServer, allotment_server
from tests.client.compat.osc_venv import osc_venv_or_skip


@pytest.fixture(scope="session")
def osc_venv() -> Path:
    return osc_venv_or_skip()


@pytest.fixture(scope="module")
def server(osc_venv: Path) -> Iterator[RunningServer]:
    """A fresh allotment server (new SQLite file) per test module, started only once the clients exist."""
    with allotment_server() as srv:
        yield srv
