"""``allotment schedule --dry-run`` and the explanation a refusal prints, against a real fleet
(placement on a SQLite file through the direct client, the registry on another)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.test_scheduling_cli import _run, _where
from tests.scheduler.fleet import Fleet, open_fleet


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    with open_fleet(tmp_path) as f:
        f.add_host("a", vcpus=8, memory_mb=8192)
        f.add_host("b", vcpus=4, memory_mb=4096)
        yield f


def test_dry_run_table_shows_weights_and_claims_nothing(fleet: Fleet, tmp_path: Path) -> None:
    result = _run("--vcpus", "2", "--memory-mb", "1024", "--dry-run", *_where(tmp_path))
    assert result.exit_code == 0, result.stderr
    assert "dry run, nothing claimed: reservation r-" in result.stdout
    assert "RAMWeigher" in result.stdout and "CPUWeigher" in result.stdout
    assert fleet.total_usage() == {"a": {}, "b": {}} and fleet.registry.list_instances() == []


def test_dry_run_json_carries_the_decision(fleet: Fleet, tmp_path: Path) -> None:
    result = _run("--vcpus", "2", "--memory-mb", "1024", "-n", "2", "--dry-run", "-f", "json", *_where(tmp_path))
    assert result.exit_code == 0, result.stderr
    body = json.loads(result.stdout)
    assert body["dry_run"] is True and [d["host"] for d in body["decision"]] == ["a", "a"]
    assert fleet.total_usage() == {"a": {}, "b": {}}


def test_refusal_prints_the_explanation_after_the_error(fleet: Fleet, tmp_path: Path) -> None:
    result = _run("--vcpus", "6", "--memory-mb", "9000", *_where(tmp_path))
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "error: no valid host: placement found no allocation candidates for the request (scheduler.no_valid_host)",
        "2 host(s); placement offered 0",
        "  unsuffixed group (MEMORY_MB:9000, VCPU:6): 0 fit; ruled out: amount 2 (MEMORY_MB 2)",
        "nearest misses:",
        "  a: MEMORY_MB: needs 9000, 8192 free",
        "  b: MEMORY_MB: needs 9000, 4096 free; VCPU: needs 6, 4 free",
    ]


def test_refusal_in_json_is_a_document(fleet: Fleet, tmp_path: Path) -> None:
    result = _run("--vcpus", "16", "--memory-mb", "1024", "-f", "json", *_where(tmp_path))
    assert result.exit_code == 1
    body = json.loads(result.stdout)
    assert body["explanation"]["groups"][0]["ruled_out"] == {"amount": {"hosts": 2, "by": {"VCPU": 2}}}
    assert [m["host"] for m in body["explanation"]["nearest_misses"]] == ["a", "b"]
