"""Quick smoke of ``allotment bench`` at tiny scale against a real allotment server.

A benchmark, not a test of allotment: these check that the tool runs end to end
and that allotment answers every request of the workloads with a 2xx.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from allotment.bench.cli import bench
from allotment.bench.servers import ensure_upstream_venv

PROVIDERS = 20


def _run(tmp_path: Path, *args: str) -> dict:
    out = tmp_path / "results"
    result = CliRunner().invoke(bench, ["run", "--providers", str(PROVIDERS), "--concurrency", "4",
                                        "--workers", "2", "--out", str(out), *args])
    assert result.exit_code == 0, result.output
    files = list(out.glob("*.json"))
    assert len(files) == 1
    return orjson.loads(files[0].read_bytes())


def _errors(doc: dict, target: str) -> str:
    """Status counts and the first error body of each workload, for assertion messages."""
    lines = []
    for r in doc["targets"][target]["runs"]:
        for name, w in r["workloads"].items():
            first = (w["details"].get("errors") or [{}])[0]
            lines.append(f"{name}: {w['details'].get('status_counts')} first error: {first}")
    return "\n".join(lines)


def test_load_smoke_against_allotment(tmp_path: Path) -> None:
    doc = _run(tmp_path, "--workload", "load", "--targets", "allotment")
    summary = doc["targets"]["allotment"]["summary"]["load"]
    assert summary["non_2xx"] == 0, _errors(doc, "allotment")
    assert summary["providers_complete"] == PROVIDERS
    assert summary["requests"] == 4 * PROVIDERS
    assert summary["wall_s"] > 0 and summary["requests_per_s"] > 0
    assert summary["server_cpu_s"] > 0
    rss = doc["targets"]["allotment"]["summary"]["rss"]
    assert rss["peak_rss_total_mb"] > 0
    assert doc["targets"]["allotment"]["runs"][0]["rss"]["processes"] >= 3  # arbiter + 2 workers
    assert "git" in doc["targets"]["allotment"]["runs"][0]

    table = CliRunner().invoke(bench, ["table", *map(str, (tmp_path / "results").glob("*.json"))])
    assert table.exit_code == 0, table.output
    assert "sqlite, 2 workers, N=20, c=4; runs ok: allotment 1/1" in table.output
    assert "| load | wall time (s) |" in table.output


def test_ac_smoke_against_allotment(tmp_path: Path) -> None:
    doc = _run(tmp_path, "--workload", "ac,ac-conc", "--requests", "3", "--conc-requests", "20",
               "--targets", "allotment")
    assert doc["workloads"] == ["ac", "ac-conc"] and doc["setup_workloads"] == ["load"]
    summary = doc["targets"]["allotment"]["summary"]
    assert summary["load"]["non_2xx"] == 0, _errors(doc, "allotment")
    assert summary["ac"]["non_2xx"] == 0, _errors(doc, "allotment")
    assert summary["ac-conc"]["non_2xx"] == 0, _errors(doc, "allotment")
    # Every loaded provider is in the first aggregate and has HW_CPU_X86_AVX2, so all are candidates.
    assert summary["ac"]["filtered.candidates"] == PROVIDERS
    assert summary["ac"]["resources.candidates"] == PROVIDERS
    assert summary["ac"]["limit10.candidates"] == 10


def test_claim_and_race_smoke_against_allotment(tmp_path: Path) -> None:
    # 4 writers x 25 attempts against the race providers' 70 claims: they fill up and contention is real.
    doc = _run(tmp_path, "--workload", "claim,race", "--claims", "10", "--race-writers", "4", "--race-claims", "25",
               "--targets", "allotment")
    assert doc["workloads"] == ["claim", "race"] and doc["setup_workloads"] == ["load"]
    summary = doc["targets"]["allotment"]["summary"]
    assert summary["claim"]["non_2xx"] == 0, _errors(doc, "allotment")
    assert summary["claim"]["claims_ok"] == 10
    assert summary["claim"]["p95_ms"] >= summary["claim"]["p50_ms"] > 0 and summary["claim"]["claims_per_s"] > 0
    race = summary["race"]
    assert race["server_5xx"] == 0 and race["other_failures"] == 0, _errors(doc, "allotment")
    assert race["successes"] == 70 == race["consumers_found"]
    assert race["free_claims_left"] == 0
    assert race["successes"] + race["conflicts_409"] + race["no_candidates"] == 100
    assert race["overcommitted_providers"] == 0 and race["usage_mismatches"] == 0


def test_concurrent_claims_smoke_against_allotment(tmp_path: Path) -> None:
    # 4 clients share 40 claims over 20 providers that hold 32 claims each: every claim fits, 409s get retried.
    doc = _run(tmp_path, "--workload", "claim-conc", "--conc-requests", "40", "--targets", "allotment")
    conc = doc["targets"]["allotment"]["summary"]["claim-conc"]
    assert conc["claims_ok"] == 40, _errors(doc, "allotment")
    assert conc["server_5xx"] == 0 and conc["other_failures"] == 0
    assert conc["overcommitted_providers"] == 0 and conc["usage_mismatches"] == 0
    assert conc["p99_ms"] >= conc["p50_ms"] > 0 and conc["claims_per_s"] > 0
    audit = doc["targets"]["allotment"]["runs"][0]["workloads"]["claim-conc"]["details"]["audit"]
    assert audit["consumers"] == 40


def test_cold_smoke_against_allotment(tmp_path: Path) -> None:
    doc = _run(tmp_path, "--workload", "cold", "--requests", "3", "--targets", "allotment")
    run = doc["targets"]["allotment"]["runs"][0]
    assert run["error"] is None, run
    cold = run["workloads"]["cold"]["figures"]
    assert cold["non_2xx"] == 0, _errors(doc, "allotment")
    assert cold["first_full.candidates"] == PROVIDERS
    assert cold["build_s"] is not None and cold["build_s"] < cold["ready_s"]
    assert cold["build_cpu_s"] is not None and cold["build_cpu_s"] >= 0
    assert cold["first_ms"] > 0 and cold["limit10.p99_ms"] >= cold["limit10.p50_ms"] > 0
    assert cold["worker_rss_mb"] > 0 and cold["mb_per_100k"] is not None
    assert [n for n, *_ in run["workloads"]["cold"]["details"]["builds_logged"]].count(PROVIDERS) == 2  # each worker


def test_nested_smoke_against_allotment(tmp_path: Path) -> None:
    from allotment.bench.workloads import nested

    doc = _run(tmp_path, "--workload", "nested", "--trees", "3", "--requests", "2", "--targets", "allotment")
    assert doc["params"]["trees"] == 3
    run = doc["targets"]["allotment"]["runs"][0]["workloads"]["nested"]
    figures = run["figures"]
    assert figures["non_2xx"] == 0, _errors(doc, "allotment")
    assert figures["setup_failed_providers"] == 0
    assert {q: figures[f"{q}.candidates"] for q in nested.QUERIES} == {q: nested.expected(q, 3)
                                                                       for q in nested.QUERIES}
    assert figures["unexpected_counts"] == 0
    assert set(run["details"]["digests"]) == {q for q, (query, _) in nested.QUERIES.items() if "limit=" not in query}


def test_explode_smoke_against_allotment(tmp_path: Path) -> None:
    doc = _run(tmp_path, "--workload", "explode", "--explode-requests", "1", "--explode-max-groups", "4",
               "--targets", "allotment")
    figures = doc["targets"]["allotment"]["summary"]["explode"]
    assert figures["non_2xx"] == 0, _errors(doc, "allotment")
    assert figures["vgpu4.candidates"] == 1680
    assert figures["vgpu4_limit10.candidates"] == 10
    assert figures["numa_vgpu4.candidates"] == 4 * 1680
    assert figures["limit_violations"] == 0 and figures["unexpected_counts"] == 0
    assert figures["vgpu4.peak_rss_mb"] > 0 and figures["vgpu4.time_s"] > 0
    assert "vgpu8.candidates" not in figures or figures["vgpu8.candidates"] is None  # left out at this scale
    digests = doc["targets"]["allotment"]["runs"][0]["workloads"]["explode"]["details"]["digests"]
    assert set(digests) == {"vgpu4", "numa_vgpu4"}


@pytest.fixture(scope="module")
def upstream_venv() -> Path:
    """Upstream Placement's virtualenv, built here if the conformance tests have not built it yet."""
    try:
        return ensure_upstream_venv()
    except (OSError, subprocess.CalledProcessError) as exc:
        reason = f"upstream Placement's virtualenv could not be built (no package index?): {exc}"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)


@pytest.mark.slow
def test_side_by_side_smoke(tmp_path: Path, upstream_venv: Path) -> None:
    doc = _run(tmp_path, "--workload", "load,ac", "--requests", "3")
    for target in ("allotment", "upstream"):
        assert doc["targets"][target]["runs_ok"] == 1
        assert doc["targets"][target]["summary"]["ac"]["filtered.candidates"] is not None
    # Upstream on SQLite may answer some writes with 500 "database is locked"; allotment must not.
    assert doc["targets"]["allotment"]["summary"]["load"]["non_2xx"] == 0, _errors(doc, "allotment")
    assert "wall_s" in doc["ratios"]["load"]
