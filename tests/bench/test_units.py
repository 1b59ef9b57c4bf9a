"""The benchmark tool's pure parts, and its workloads against a fake Placement."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
import uuid

import orjson
import pytest

from allotment.bench import procstat
from allotment.bench.http import Client, Recorder, server_info
from allotment.bench.results import (
    SCHEMA,
    build_document,
    compute_ratios,
    load_document,
    markdown_table,
    rich_tables,
    save_document,
    summarize_runs,
)
from allotment.bench.stats import median, percentile, ratio, summarize_latencies
from allotment.bench.workloads import REGISTRY, Context, Params, ac, load, resolve
from tests.bench.fake_placement import fake_placement

# --- statistics -----------------------------------------------------------------------------------------------


def test_percentile_interpolates_between_closest_ranks() -> None:
    assert percentile([5, 1, 4, 2, 3], 50) == 3
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile([1, 2, 3, 4, 5], 0) == 1
    assert percentile([1, 2, 3, 4, 5], 100) == 5
    # 20 samples, as the ac workload takes: p95 sits 5% of the way from the 19th to the 20th value.
    assert percentile(list(range(1, 21)), 95) == pytest.approx(19.05)
    assert percentile([7.5], 95) == 7.5
    assert median([3, 1, 2]) == 2


@pytest.mark.parametrize("values, q", [([], 50), ([1.0], -1), ([1.0], 100.5)])
def test_percentile_rejects_bad_input(values: list[float], q: float) -> None:
    with pytest.raises(ValueError):
        percentile(values, q)


def test_latency_summary_is_in_milliseconds() -> None:
    s = summarize_latencies([0.010, 0.020, 0.030])
    assert s["p50_ms"] == pytest.approx(20.0)
    assert s["min_ms"] == pytest.approx(10.0)
    assert s["max_ms"] == pytest.approx(30.0)
    assert s["mean_ms"] == pytest.approx(20.0)


def test_ratio_is_above_one_when_allotment_is_better() -> None:
    assert ratio(2.0, 10.0, "lower") == pytest.approx(5.0)  # time: upstream/allotment
    assert ratio(300.0, 100.0, "higher") == pytest.approx(3.0)  # rate: allotment/upstream
    assert ratio(20.0, 10.0, "lower") == pytest.approx(0.5)
    assert ratio(None, 1.0, "lower") is None
    assert ratio(1.0, 0.0, "higher") is None
    with pytest.raises(ValueError):
        ratio(1.0, 1.0, "sideways")


# --- workload registry and plan ---------------------------------------------------------------------------------


def test_registry_marks_unwritten_workloads_as_todo() -> None:
    assert {n for n, w in REGISTRY.items() if w.ready} == {"load", "ac", "ac-conc"}
    for name in ("claim", "race", "nested", "explode", "schedule"):
        assert not REGISTRY[name].ready
        with pytest.raises(ValueError, match="not implemented"):
            resolve([name])
    with pytest.raises(ValueError, match="unknown"):
        resolve(["nope"])


def test_resolve_runs_prerequisites_first_as_setup() -> None:
    assert [(w.name, m) for w, m in resolve(["ac"])] == [("load", False), ("ac", True)]
    assert [(w.name, m) for w, m in resolve(["ac", "load"])] == [("load", True), ("ac", True)]
    assert [(w.name, m) for w, m in resolve(["ac", "ac-conc"])] == [("load", False), ("ac", True), ("ac-conc", True)]


def test_load_plan_is_deterministic_and_shaped_like_placeload() -> None:
    a = load.plan(90, seed=7)
    assert a == load.plan(90, seed=7)
    assert [p.uuid for p in load.plan(90, seed=7, run_index=1)] != [p.uuid for p in a]
    assert len({p.uuid for p in a}) == 90
    assert all(uuid.UUID(p.uuid).version == 4 for p in a)
    # Prefixes of the fixed lists: everyone is in the first aggregate and has AVX2, as placeload does.
    assert {len(p.aggregates) for p in a} == {1, 2, 3}
    assert {len(p.traits) for p in a} == {1, 2, 3}
    assert all(p.aggregates == load.AGGREGATES[: len(p.aggregates)] for p in a)
    assert all(p.traits == load.TRAITS[: len(p.traits)] for p in a)
    assert load.AGGREGATES[0] == "14a5c8a3-5a99-4e8f-88be-00d85fcb1c17"


# --- workloads against a fake server ------------------------------------------------------------------------------


def test_load_and_ac_against_fake_placement() -> None:
    with fake_placement() as (url, state):
        ctx = Context(url=url, params=Params(providers=30, concurrency=4, requests=3, conc_requests=12))
        res = load.run(ctx)
        assert res.figures["non_2xx"] == 0
        assert res.figures["requests"] == 4 * 30
        assert res.figures["providers_complete"] == 30
        assert res.figures["providers_repaired"] == 0
        assert res.figures["wall_s"] > 0 and res.figures["requests_per_s"] > 0
        # The chain carried the generations: each provider went 0 -> 3.
        assert {rp["generation"] for rp in state.providers.values()} == {3}
        planned = {p.uuid: p for p in load.plan(30, seed=1)}
        for uu, rp in state.providers.items():
            assert tuple(rp["aggregates"]) == planned[uu].aggregates
            assert rp["inventories"] == load.INVENTORIES

        res = ac.run(ctx)
        assert res.figures["non_2xx"] == 0
        assert res.figures["filtered.candidates"] == 30
        assert res.figures["limit10.candidates"] == 10
        assert res.figures["resources.candidates"] == 30
        assert res.figures["filtered.p95_ms"] >= res.figures["filtered.p50_ms"] > 0
        assert res.details["expected_candidates"] == 30

        res = ac.run_concurrent(ctx)
        assert res.figures["non_2xx"] == 0
        assert res.details["status_counts"] == {"200": 12}


def test_load_records_errors_stops_that_chain_and_finishes_it_untimed() -> None:
    with fake_placement(fail_every=5) as (url, state):
        ctx = Context(url=url, params=Params(providers=20, concurrency=3))
        res = load.run(ctx)
        assert all(rp["traits"] for rp in state.providers.values())
    assert res.figures["non_2xx"] == 4
    assert res.figures["providers_complete"] == 16
    assert res.figures["providers_repaired"] == 4
    assert ctx.state["providers"] == 20
    assert res.details["status_counts"] == {"200": 76, "500": 4}
    assert res.details["repair"]["status_counts"]["200"] >= 16
    assert len(res.details["errors"]) == 4
    assert res.details["errors"][0]["status"] == "500"
    assert "database is locked" in res.details["errors"][0]["body"]
    assert res.details["errors"][0]["path"].endswith("/traits")


def test_transport_errors_are_counted_not_raised() -> None:
    rec = Recorder()
    with Client("http://127.0.0.1:1", timeout=2) as c:
        assert rec.request(c, "GET", "/") is None
    assert rec.non_2xx == 1
    assert rec.details()["status_counts"] == {"transport": 1}
    assert "error" in server_info("http://127.0.0.1:1")


# --- process sampling -------------------------------------------------------------------------------------------


def test_process_sampler_sees_a_tree_and_its_memory() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; x = bytearray(30 * 2**20); time.sleep(30)"])
    try:
        deadline = time.monotonic() + 10
        while procstat.read_memory_kb(child.pid).get("VmRSS", 0) < 30 * 1024 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert child.pid in procstat.descendants(os.getpid())
        sampler = procstat.ProcessSampler(child.pid, interval=0.05).start()
        time.sleep(0.2)
        figures = sampler.stop()
        assert figures["processes"] == 1
        assert figures["samples"] >= 2
        assert figures["peak_rss_total_mb"] >= 30
        assert figures["peak_hwm_max_mb"] >= 30
        assert procstat.cpu_seconds([child.pid])[child.pid] >= 0
    finally:
        child.kill()
        child.wait()
    assert procstat.read_memory_kb(child.pid) == {}


def test_cpu_delta_counts_new_processes_whole() -> None:
    assert procstat.cpu_delta({1: 1.0, 2: 5.0}, {1: 1.5, 3: 2.0}) == pytest.approx(2.5)


# --- result document ---------------------------------------------------------------------------------------------


def _run(wall: float, rps: float, non_2xx: int, rss: float, index: int = 0) -> dict:
    figures = {"wall_s": wall, "requests_per_s": rps, "requests": 400, "non_2xx": non_2xx,
               "providers_complete": 100, "server_cpu_s": wall / 2, "client_cpu_s": 0.1}
    details = {"status_counts": {"200": 400 - non_2xx, **({"500": non_2xx} if non_2xx else {})},
               "errors": [{"method": "PUT", "path": "/x", "status": "500", "body": "locked"}] * min(non_2xx, 1)}
    return {"run": index, "url": "http://127.0.0.1:1", "server": {"max_version": "1.39"}, "error": None,
            "workloads": {"load": {"measured": True, "figures": figures, "details": details}},
            "rss": {"peak_rss_total_mb": rss, "peak_pss_total_mb": rss - 10, "peak_hwm_max_mb": rss / 2,
                    "peak_hwm_sum_mb": rss, "processes": 3, "samples": 10}}


def _document() -> dict:
    runs = {
        "allotment": [_run(2.0, 200.0, 0, 100.0, 0), _run(4.0, 100.0, 0, 120.0, 1), _run(3.0, 150.0, 0, 110.0, 2)],
        "upstream": [_run(30.0, 20.0, 10, 200.0, 0), _run(10.0, 40.0, 5, 210.0, 1), _run(20.0, 30.0, 4, 190.0, 2)],
    }
    return build_document(runs=runs, targets={"allotment": None, "upstream": None}, workloads=resolve(["load"]),
                          params=Params(providers=100, concurrency=10), backend="sqlite", workers=2, repeat=3,
                          label="test", command="allotment bench run",
                          created=dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC))


def test_summary_takes_medians_and_sums_error_counts() -> None:
    doc = _document()
    a = doc["targets"]["allotment"]["summary"]
    u = doc["targets"]["upstream"]["summary"]
    assert a["load"]["wall_s"] == 3.0
    assert u["load"]["wall_s"] == 20.0
    assert u["load"]["non_2xx"] == 19  # summed: any error in any run counts
    assert a["load"]["requests"] == 400 and isinstance(a["load"]["requests"], int)
    assert a["rss"]["peak_rss_total_mb"] == 110.0


def test_ratios_upstream_over_allotment_for_times_and_the_reverse_for_rates() -> None:
    r = _document()["ratios"]
    assert r["load"]["wall_s"] == {"value": pytest.approx(20.0 / 3.0), "formula": "upstream/allotment"}
    assert r["load"]["requests_per_s"] == {"value": pytest.approx(150.0 / 30.0), "formula": "allotment/upstream"}
    assert r["rss"]["peak_rss_total_mb"]["value"] == pytest.approx(200.0 / 110.0)
    assert "non_2xx" not in r["load"] and "requests" not in r["load"]  # counts get no ratio


def test_ratios_need_both_targets() -> None:
    specs = {"load": {"wall_s": {"better": "lower"}}}
    assert compute_ratios({"allotment": {"load": {"wall_s": 1.0}}, "upstream": None}, specs) == {}


def test_document_shape_and_round_trip(tmp_path) -> None:
    doc = _document()
    assert doc["schema"] == SCHEMA
    assert doc["created"] == "2026-01-02T03:04:05+00:00"
    assert doc["workloads"] == ["load"] and doc["setup_workloads"] == []
    assert doc["params"] == {"providers": 100, "concurrency": 10, "seed": 1, "requests": 20, "conc_requests": 500,
                             "backend": "sqlite", "workers": 2, "repeat": 3}
    assert {"cores", "python", "platform", "cpu_model", "memory_mb"} <= set(doc["machine"])
    assert doc["versions"]["upstream"] == "openstack-placement==16.0.0"
    assert doc["figures"]["load"]["wall_s"] == {"key": "wall_s", "unit": "s", "better": "lower", "agg": "median",
                                                "label": "wall time"}
    for name in ("allotment", "upstream"):
        t = doc["targets"][name]
        assert t["source"] == "started" and t["runs_ok"] == 3 and len(t["runs"]) == 3
    path = save_document(doc, tmp_path / "results")
    assert path.name == "20260102T030405Z-load-sqlite-n100-w2.json"
    assert load_document(path) == orjson.loads(orjson.dumps(doc))
    assert not list((tmp_path / "results").glob("*.tmp"))


def test_load_document_rejects_other_json(tmp_path) -> None:
    p = tmp_path / "x.json"
    p.write_text('{"hello": 1}')
    with pytest.raises(ValueError, match="not an allotment benchmark result"):
        load_document(p)


def test_failed_runs_are_left_out_of_the_summary() -> None:
    runs = {"allotment": [{"run": 0, "error": "server did not start: boom", "workloads": {}, "rss": None}],
            "upstream": [_run(10.0, 40.0, 0, 200.0)]}
    doc = build_document(runs=runs, targets={"allotment": None, "upstream": None}, workloads=resolve(["load"]),
                         params=Params(), backend="sqlite", workers=2, repeat=1)
    assert doc["targets"]["allotment"]["summary"] is None
    assert doc["targets"]["allotment"]["runs_ok"] == 0
    assert doc["ratios"] == {}
    md = markdown_table([doc])
    assert "runs ok: allotment 0/1, upstream 1/1" in md
    assert "| load | wall time (s) | — | 10.0 | — |" in md.splitlines()


def test_markdown_table() -> None:
    md = markdown_table([_document()])
    lines = md.splitlines()
    assert lines[0].startswith("**2026-01-02T03:04:05+00:00**: sqlite, 2 workers, N=100, c=10; "
                               "runs ok: allotment 3/3, upstream 3/3 (medians);")
    assert lines[0].endswith("openstack-placement==16.0.0; test")
    assert lines[2] == "| workload | figure | allotment | upstream | ratio |"
    assert "| load | wall time (s) | 3.00 | 20.0 | 6.67× |" in lines
    assert "| load | requests/s (req/s) | 150 | 30.0 | 5.00× |" in lines
    assert "| load | non-2xx (must be 0), all runs | 0 | 19 |  |" in lines
    assert any(line.startswith("| memory | peak RSS, server + workers (MB) |") for line in lines)
    assert not any("client CPU" in line for line in lines)
    assert lines[-1].startswith("Ratio: how many times better allotment did")


def test_rich_tables_render_and_list_errors() -> None:
    from rich.console import Console

    console = Console(width=200, record=True)
    for renderable in rich_tables(_document()):
        console.print(renderable)
    text = console.export_text()
    assert "wall time" in text and "6.67×" in text
    assert "upstream run 1: load: 10 non-2xx" in text


def test_summary_skips_workloads_no_run_reached() -> None:
    assert summarize_runs([], {"load": {"wall_s": {"agg": "median"}}}) == {}


def test_cli_measures_a_server_given_by_url(tmp_path) -> None:
    from click.testing import CliRunner

    from allotment.bench.cli import bench

    with fake_placement() as (url, state):
        result = CliRunner().invoke(bench, ["run", "-w", "ac", "-n", "12", "-c", "3", "--requests", "2",
                                            "--targets", "upstream", "--url-upstream", url, "--out", str(tmp_path)])
        assert result.exit_code == 0, result.output
        assert len(state.providers) == 12
    (path,) = tmp_path.glob("*.json")
    doc = load_document(path)
    target = doc["targets"]["upstream"]
    assert target["source"] == "url" and target["url"] == url
    assert target["summary"]["ac"]["filtered.candidates"] == 12
    assert target["summary"]["ac"]["server_cpu_s"] is None  # no process to read for a server given by URL
    assert target["runs"][0]["rss"] is None
    assert target["runs"][0]["server"] == {"min_version": "1.0", "max_version": "1.39"}
    assert doc["workloads"] == ["ac"] and doc["setup_workloads"] == ["load"]


def test_cli_rejects_unknown_targets_and_todo_workloads() -> None:
    from click.testing import CliRunner

    from allotment.bench.cli import bench

    assert CliRunner().invoke(bench, ["run", "--targets", "nova"]).exit_code == 2
    assert CliRunner().invoke(bench, ["run", "-w", "race"]).exit_code == 2
    assert CliRunner().invoke(bench, ["run", "--targets", "allotment", "--url-upstream", "http://x"]).exit_code == 2


# --- runner ------------------------------------------------------------------------------------------------------


def test_a_server_that_dies_voids_the_run_and_keeps_its_traceback(tmp_path) -> None:
    from allotment.bench.runner import _note_server_trouble
    from allotment.bench.servers import RunningServer

    log = "booting\nTraceback (most recent call last):\n  boom\nWorker failed to boot.\n"
    (tmp_path / "server.log").write_text(log)
    proc = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    proc.wait()
    record = {"error": None, "workloads": {"load": {"figures": {"non_2xx": 5}}}}
    _note_server_trouble(record, RunningServer(url="http://x", process=proc, name="upstream", workdir=tmp_path))
    assert record["server_exit"] == 3
    assert record["error"] == "server exited with code 3 during the run"
    assert record["server_log_first_traceback"].startswith("Traceback")
    assert record["server_log_tail"].endswith("Worker failed to boot.\n")


def test_a_run_whose_server_died_is_run_once_more(monkeypatch) -> None:
    from allotment.bench import runner

    calls = []

    def fake_run_once(target, workloads, params, *, backend, workers, run_index):
        calls.append(run_index)
        if len(calls) == 1:
            return {"run": run_index, "error": "server exited with code 3 during the run", "server_exit": 3}
        return {"run": run_index, "error": None}

    monkeypatch.setattr(runner, "run_once", fake_run_once)
    runs = runner.run_benchmark([runner.Target("upstream")], resolve(["load"]), Params(), backend="sqlite",
                                workers=2, repeat=2)
    assert calls == [0, 0, 1]
    first, second = runs["upstream"]
    assert first["error"] is None and first["failed_attempts"][0]["server_exit"] == 3
    assert "failed_attempts" not in second
