"""Fixtures for the CLI tests: the ``allotment`` command against placement in-process on a fresh
SQLite file (``--db``), and a direct client on the same file to set up scenarios and check results."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import Result

from allotment.client import PlacementClient, direct
from tests.cli._support import invoke

Run = Callable[..., Result]


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'placement.sqlite'}"


@pytest.fixture
def run(db_url: str) -> Run:
    """``run("provider", "list", "-f", "json")``: the command in direct mode on the test's database."""

    def _run(*args: str, input: str | None = None, env: dict[str, str | None] | None = None) -> Result:
        return invoke(["--db", db_url, *args], input=input, env=env)

    return _run


@pytest.fixture
def placement(db_url: str) -> Iterator[PlacementClient]:
    """A direct client on the test's database."""
    with direct(db_url) as client:
        yield client
