"""The benchmark tool's pure parts, and its workloads against a fake Placement."""

from __future__ import annotations

import datetime as dt
import os
import random
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
    compare_answers,
    compute_ratios,
    load_document,
    markdown_table,
    rich_tables,
    save_document,
    summarize_runs,
)
from allotment.bench.stats import median, percentile, ratio, summarize_latencies
from allotment.bench.workloads import REGISTRY, Context, Params, ac, claim, explode, load, nested, resolve
from allotment.bench.workloads.trees import ProviderSpec, build_trees
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
    assert s["p99_ms"] == pytest.approx(29.8)
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


def test_registry_holds_every_planned_workload_ready() -> None:
    assert {n for n, w in REGISTRY.items() if w.ready} == {"load", "ac", "ac-conc", "claim", "claim-conc", "race",
                                                            "nested", "explode", "schedule", "cold", "numa", "boot",
                                                            "capacity", "simulate"}
    assert [(w.name, measured) for w, measured in resolve(["schedule"])] == [("load", False), ("schedule", True)]
    with pytest.raises(ValueError, match="unknown"):
        resolve(["nope"])


def test_resolve_runs_prerequisites_first_as_setup() -> None:
    assert [(w.name, m) for w, m in resolve(["ac"])] == [("load", False), ("ac", True)]
    assert [(w.name, m) for w, m in resolve(["ac", "load"])] == [("load", True), ("ac", True)]
    assert [(w.name, m) for w, m in resolve(["ac", "ac-conc"])] == [("load", False), ("ac", True), ("ac-conc", True)]
    # claim draws on the load providers; race, nested and explode make their own.
    assert [(w.name, m) for w, m in resolve(["claim", "race"])] == [("load", False), ("claim", True), ("race", True)]
    assert [(w.name, m) for w, m in resolve(["nested", "explode"])] == [("nested", True), ("explode", True)]


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
        assert res.figures["limit1000.candidates"] == 30  # the limit above what exists
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
                             "claims": 200, "race_writers": 10, "race_claims": 50, "trees": 100,
                             "explode_requests": 3, "explode_max_groups": 8, "timeout": 120.0,
                             "backend": "sqlite", "workers": 2, "repeat": 3,
                             "transport": "inprocess://", "boot_processes": 0, "arrivals": 2000}
    assert {"cores", "python", "platform", "cpu_model", "memory_mb"} <= set(doc["machine"])
    assert doc["versions"]["upstream"] == "openstack-placement==16.0.0"
    assert doc["figures"]["load"]["wall_s"] == {"key": "wall_s", "unit": "s", "better": "lower", "agg": "median",
                                                "label": "wall time", "show": False}
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


def test_cli_rejects_unknown_targets_and_workloads() -> None:
    from click.testing import CliRunner

    from allotment.bench.cli import bench

    assert CliRunner().invoke(bench, ["run", "--targets", "nova"]).exit_code == 2
    assert CliRunner().invoke(bench, ["run", "-w", "nope"]).exit_code == 2
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


# --- claim and race ----------------------------------------------------------------------------------------------


def test_claim_body_is_the_allocation_request_plus_the_consumer() -> None:
    areq = {"allocations": {"rp1": {"resources": {"VCPU": 1, "DISK_GB": 10}}, "rp2": {"resources": {"VGPU": 1}}},
            "mappings": {"": ["rp1"], "_G": ["rp2"]}}
    body = claim.claim_body(areq, "proj", "user")
    assert body == {"allocations": {"rp1": {"resources": {"VCPU": 1, "DISK_GB": 10}}, "rp2": {"resources": {"VGPU": 1}}},
                    "project_id": "proj", "user_id": "user", "consumer_generation": None, "consumer_type": "INSTANCE"}
    body["allocations"]["rp1"]["resources"]["VCPU"] = 5
    assert areq["allocations"]["rp1"]["resources"]["VCPU"] == 1  # a copy, not the request itself


def test_race_providers_are_few_small_seeded_and_in_their_own_aggregate() -> None:
    a = claim.race_providers(seed=3)
    assert a == claim.race_providers(seed=3)
    assert [p.uuid for p in claim.race_providers(seed=3, run_index=1)] != [p.uuid for p in a]
    assert len(a) == 5 and all(p.aggregates == (claim.RACE_AGGREGATE,) and p.parent is None for p in a)
    assert claim.RACE_AGGREGATE not in load.AGGREGATES
    # 14 claims each (memory binds: (4096 - 512) / 256), 70 in all: far fewer than 10 x 50 attempts.
    assert claim.claims_that_fit(claim.RACE_INVENTORY, {}) == 14
    assert claim.RACE_AGGREGATE in claim.RACE_QUERY and "limit=5" in claim.RACE_QUERY


def test_claims_that_fit_uses_reserved_and_allocation_ratio() -> None:
    inv = {"VCPU": {"total": 4, "reserved": 0, "allocation_ratio": 4.0},
           "MEMORY_MB": {"total": 4096, "reserved": 512, "allocation_ratio": 1.0},
           "DISK_GB": {"total": 200, "reserved": 0, "allocation_ratio": 1.0}}
    assert claim.claims_that_fit(inv, {"VCPU": 15, "MEMORY_MB": 0, "DISK_GB": 0}) == 1
    assert claim.claims_that_fit(inv, {"VCPU": 0, "MEMORY_MB": 3584, "DISK_GB": 0}) == 0
    assert claim.claims_that_fit({"VCPU": inv["VCPU"]}, {}) == 0  # a class the claim needs is missing


def test_audit_finds_overcommit_and_usages_that_do_not_add_up() -> None:
    inv = {"VCPU": {"total": 4, "reserved": 1, "allocation_ratio": 2.0}, "DISK_GB": {"total": 100}}
    allocs = {"c1": {"resources": {"VCPU": 4, "DISK_GB": 10}}, "c2": {"resources": {"VCPU": 2}}}
    ok = claim.audit_provider(inv, {"VCPU": 6, "DISK_GB": 10}, allocs)
    assert ok.overcommitted == () and ok.usage_matches_allocations and ok.consumers == {"c1", "c2"}
    over = claim.audit_provider(inv, {"VCPU": 7, "DISK_GB": 10}, {**allocs, "c3": {"resources": {"VCPU": 1}}})
    assert over.overcommitted == ("VCPU",) and over.usage_matches_allocations  # (4 - 1) * 2 = 6 < 7
    wrong = claim.audit_provider(inv, {"VCPU": 6, "DISK_GB": 20}, allocs)
    assert wrong.overcommitted == () and not wrong.usage_matches_allocations
    assert claim.audit_provider(inv, {"VCPU": 0, "DISK_GB": 0}, {}).usage_matches_allocations
    assert claim.audit_provider({}, {"VGPU": 1}, {"c": {"resources": {"VGPU": 1}}}).overcommitted == ("VGPU",)


# --- nested and explode -------------------------------------------------------------------------------------------


def test_nested_trees_follow_upstreams_perf_topology() -> None:
    trees = nested.plan(12, seed=5)
    assert trees == nested.plan(12, seed=5)
    assert trees[0][0].uuid != nested.plan(12, seed=5, run_index=1)[0][0].uuid
    assert all(len(t) == 7 for t in trees)
    assert len({p.uuid for t in trees for p in t}) == 7 * 12
    for tree in trees:
        root, n0, f00, p00, n1, f10, f11 = tree
        seen = set()
        for p in tree:  # parents first
            assert p.parent is None or p.parent in seen
            seen.add(p.uuid)
        assert root.parent is None and n0.parent == n1.parent == root.uuid
        assert f00.parent == p00.parent == n0.uuid and f10.parent == f11.parent == n1.uuid
        assert root.inventories == {"DISK_GB": {"total": 20480}}
        assert n0.inventories["VCPU"] == {"total": 4, "reserved": 2}
        assert n1.inventories["MEMORY_MB"] == {"total": 2048, "min_unit": 256, "max_unit": 1024}
        assert "CUSTOM_FOO" in n1.traits and "CUSTOM_FOO" not in n0.traits
        assert p00.inventories == {"VGPU": {"total": 8}} and f11.inventories == {"FPGA": {"total": 1}}
    assert [i for i, t in enumerate(trees) if "CUSTOM_BAR" in t[0].traits] == [0, 10]
    assert nested.bar_trees(12) == 2 and nested.bar_trees(100) == 10 and nested.bar_trees(3) == 1


def test_nested_expected_counts() -> None:
    assert {name: nested.expected(name, 100) for name in nested.QUERIES} == {
        "perf": 200, "perf_limit5": 5, "numa_vgpu": 100, "two_fpga": 200, "root_forbidden": 90, "spread": 600}
    assert nested.expected("perf_limit5", 2) == 4
    # Upstream's perf-job query, verbatim.
    assert nested.QUERIES["perf"][0] == (
        "resources=DISK_GB:10&required=COMPUTE_VOLUME_MULTI_ATTACH&resources_COMPUTE=VCPU:1,MEMORY_MB:256"
        "&required_COMPUTE=CUSTOM_FOO&resources_FPGA=FPGA:1&group_policy=none&same_subtree=_COMPUTE,_FPGA")


def test_answer_digest_ignores_order_but_not_mappings_or_amounts() -> None:
    a = {"allocations": {"r1": {"resources": {"VCPU": 1, "MEMORY_MB": 256}}, "f1": {"resources": {"FPGA": 1}}},
         "mappings": {"_A": ["f1"], "": ["r1"]}}
    b = {"allocations": {"r1": {"resources": {"VCPU": 1}}, "f2": {"resources": {"FPGA": 1}}},
         "mappings": {"_A": ["f2"], "": ["r1"]}}
    digest = nested.answer_digest({"allocation_requests": [a, b]})
    b_reordered = {"allocations": dict(reversed(list(b["allocations"].items()))), "mappings": b["mappings"]}
    assert nested.answer_digest({"allocation_requests": [b_reordered, a]}) == digest
    swapped = {**a, "mappings": {"_B": ["f1"], "": ["r1"]}}
    assert nested.answer_digest({"allocation_requests": [swapped, b]}) != digest
    more = {**b, "allocations": {**b["allocations"], "r1": {"resources": {"VCPU": 2}}}}
    assert nested.answer_digest({"allocation_requests": [a, more]}) != digest
    assert nested.answer_digest({"allocation_requests": [a]}) != digest


def test_explode_tree_and_expected_counts() -> None:
    tree = explode.plan(seed=1)
    assert tree == explode.plan(seed=1)
    root, *children = tree
    assert root.parent is None and all(p.parent == root.uuid for p in children)
    gpus = [p for p in children if "VGPU" in p.inventories]
    numas = [p for p in children if "VCPU" in p.inventories]
    assert len(gpus) == 8 and len(numas) == 4
    assert len({tuple(sorted(p.inventories["VGPU"].items())) for p in gpus}) == 1  # identical
    assert explode.expected(4) == 8 * 7 * 6 * 5 == 1680
    assert explode.expected(8) == 40320
    assert explode.expected(4, numa=True) == 4 * 1680
    assert explode.expected(8, limit=10) == 10
    assert explode.vgpu_groups(2) == "resources1=VGPU:1&resources2=VGPU:1&group_policy=isolate"
    # Shared GPUs: 8^k sequences, less those with more than 4 groups on one GPU (the engine counts 32,760 / 261,800).
    assert [explode.expected(k, isolate=False) for k in range(1, 7)] == [8, 64, 512, 4096, 32760, 261800]
    assert explode.expected(6, isolate=False, limit=1000) == 1000
    for query, k, numa, limit in explode.VARIANTS.values():
        assert query.count("=VGPU:1") == k and ("limit=" in query) == (limit is not None)
        assert ("resources_NUMA" in query) == numa
    assert {k for _, k, _, limit in explode.VARIANTS.values() if limit is None} == {4, 8}
    assert {k for _, k, _, limit in explode.VARIANTS.values() if limit == 10} == {4, 8}
    assert {k for q, k, _, limit in explode.VARIANTS.values() if "group_policy=none" in q and limit == 1000} == set(
        range(1, 7))


def test_build_trees_creates_parents_first_and_retries_failed_steps() -> None:
    rng = random.Random(0)
    trees = [nested.nested_tree(rng, i) for i in range(4)]
    with fake_placement(fail_every=3) as (url, state):
        setup = build_trees(url, trees, concurrency=3)
        assert setup.failed == [] and setup.providers == 28
        assert setup.recorder.statuses["500"] > 0  # some traits PUTs failed and were done again
        assert state.custom_traits == {"CUSTOM_FOO", "CUSTOM_BAR"}
        for tree in trees:
            for spec in tree:
                rp = state.providers[spec.uuid]
                assert rp["parent"] == spec.parent
                assert rp["inventories"] == spec.inventories
                assert tuple(rp["traits"]) == spec.traits
        assert setup.details()["providers"] == 28


def test_build_trees_reports_what_it_could_not_make() -> None:
    spec = ProviderSpec("11111111-2222-4333-8444-555555555555", "x", traits=("HW_NUMA_ROOT",))
    with fake_placement(fail_every=1) as (url, _state):  # every traits PUT fails
        setup = build_trees(url, [[spec]], concurrency=1)
    assert setup.failed == [spec.uuid]


# --- comparing the two servers' answers --------------------------------------------------------------------------


def _answer_run(index: int, counts: dict[str, int | None], digests: dict[str, str]) -> dict:
    return {"run": index, "error": None, "workloads": {"nested": {
        "measured": True, "figures": {f"{q}.candidates": n for q, n in counts.items()} | {"perf.p50_ms": 1.0},
        "details": {"digests": digests}}}}


def test_compare_answers_flags_counts_and_digests_that_differ() -> None:
    runs = {
        "allotment": [_answer_run(0, {"perf": 200, "spread": 600, "x": 5}, {"perf": "aa", "spread": "bb"}),
                      _answer_run(1, {"perf": 200, "spread": 600, "x": None}, {"perf": "cc"})],
        "upstream": [_answer_run(0, {"perf": 200, "spread": 598, "x": None}, {"perf": "aa", "spread": "bd"}),
                     _answer_run(1, {"perf": 200, "spread": 600, "x": None}, {"perf": "cc"})],
    }
    out = compare_answers(runs)
    assert out["compared"] == 2 + 2 + 2 + 1
    assert {(m["run"], m["figure"]) for m in out["mismatches"]} == {(0, "spread.candidates"),
                                                                   (0, "spread answer digest")}
    assert out["one_sided"] == [{"workload": "nested", "run": 0, "figure": "x.candidates", "allotment": 5,
                                 "upstream": None}]
    assert compare_answers({"allotment": runs["allotment"]}) == {"compared": 0, "mismatches": [], "one_sided": []}


def test_mismatches_are_loud_in_the_tables() -> None:
    runs = {"allotment": [_answer_run(0, {"perf": 200}, {})], "upstream": [_answer_run(0, {"perf": 198}, {})]}
    doc = build_document(runs=runs, targets={"allotment": None, "upstream": None}, workloads=resolve(["nested"]),
                         params=Params(trees=100), backend="sqlite", workers=2, repeat=1)
    assert doc["answers"]["mismatches"][0]["figure"] == "perf.candidates"
    md = markdown_table([doc])
    assert "- **ANSWERS DIFFER: nested perf.candidates (run 1): allotment 200, upstream 198**" in md
    assert "N=1000, K=100" in md
    assert "| nested | perf candidates | 200 | 198 |  |" in md
    from rich.console import Console

    console = Console(width=200, record=True)
    for renderable in rich_tables(doc):
        console.print(renderable)
    assert "ANSWERS DIFFER" in console.export_text()


def test_figures_marked_show_reach_the_markdown_table() -> None:
    runs = {"allotment": [{"run": 0, "error": None, "rss": None, "workloads": {"race": {
        "measured": True, "figures": {"successes": 70, "conflicts_409": 3, "server_5xx": 0,
                                      "overcommitted_providers": 0, "wall_s": 1.0}, "details": {}}}}]}
    doc = build_document(runs=runs, targets={"allotment": None}, workloads=resolve(["race"]), params=Params(),
                         backend="sqlite", workers=2, repeat=1)
    md = markdown_table([doc])
    assert "| race | successful claims | 70 | — |  |" in md
    assert "| race | 409 conflicts | 3 | — |  |" in md
    assert "| race | overcommitted providers (must be 0) | 0 | — |  |" in md


def test_allotment_runs_record_the_code_they_measured() -> None:
    import re

    from allotment.bench.runner import git_revision

    rev = git_revision()
    assert rev is None or re.fullmatch(r"[0-9a-f]{12}(-dirty)?", rev)
