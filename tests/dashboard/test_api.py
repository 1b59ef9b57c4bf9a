"""The dashboard's JSON over a real in-process placement and scheduler: the numbers the page draws."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from allotment.dashboard.app import DashboardConfig, create_app
from allotment.dashboard.fleet import FlavorSize
from allotment.scheduler.api.app import create_app as create_scheduler_app
from allotment.scheduler.client import SchedulerClient
from allotment.simulator.results_schema import validate_results
from tests.dashboard import scene, simulated
from tests.scheduler.fleet import open_fleet

FLAVORS = [FlavorSize("s", 1, 1024, 10), FlavorSize("big", 4, 4096, 0)]


@pytest.fixture
def dash(tmp_path: Path, simulation_results: Path) -> Iterator[httpx.Client]:
    with open_fleet(tmp_path) as fleet:
        api = create_scheduler_app(fleet.registry, scheduler=fleet.scheduler(), placement=fleet.placement)
        scheduler = SchedulerClient(httpx.Client(transport=httpx.WSGITransport(app=api), base_url="http://s"))
        scene.build(fleet.placement, scheduler)
        app = create_app(fleet.placement, scheduler, DashboardConfig(flavors=FLAVORS, simulation=simulation_results,
                                                                     cache_seconds=0))
        with httpx.Client(transport=httpx.WSGITransport(app=app), base_url="http://dash") as client:
            yield client


def test_summary_counts_hosts_providers_and_usage(dash: httpx.Client) -> None:
    s = dash.get("/api/summary").json()
    assert (s["hosts"], s["providers"], s["disabled_hosts"]) == (4, 6, 1)
    assert s["zones"] == ["(no zone)", "az1", "az2"]
    assert s["totals"]["VCPU"] == {"capacity": 24.0, "used": 2.0}
    assert s["totals"]["DISK_GB"] == {"capacity": 400.0, "used": 20.0}


def test_heatmap_is_used_over_capacity_per_host_tree(dash: httpx.Client) -> None:
    h = dash.get("/api/heatmap").json()
    assert h["classes"] == ["DISK_GB", "MEMORY_MB", "VCPU"]
    rows = {r["host"]: r for r in h["hosts"]}
    assert rows["h1"]["zone"] == "az1"
    assert [r["host"] for r in h["hosts"] if r["disabled"]] == ["h3"]
    assert rows["h1"]["cells"]["VCPU"] == {"used": 2.0, "capacity": 8.0, "ratio": 0.25}
    assert rows["h1"]["cells"]["DISK_GB"]["ratio"] == 0.2
    assert rows["h4"]["cells"]["VCPU"] == {"used": 0.0, "capacity": 8.0, "ratio": 0.0}  # both NUMA nodes


def test_trees_nest_children_with_inventories_and_usage(dash: httpx.Client) -> None:
    trees = {t["name"]: t for t in dash.get("/api/trees").json()["trees"]}
    assert sorted(trees) == ["h1", "h2", "h3", "h4"]
    assert trees["h1"]["resources"]["MEMORY_MB"]["used"] == 2048
    assert trees["h3"]["disabled"] is True
    assert [c["name"] for c in trees["h4"]["children"]] == ["h4_numa0", "h4_numa1"]
    assert trees["h4"]["children"][0]["resources"]["VCPU"]["capacity"] == 4.0


def test_capacity_per_flavor_and_zone_leaves_disabled_hosts_out(dash: httpx.Client) -> None:
    c = dash.get("/api/capacity").json()
    assert c["zones"] == ["(no zone)", "az1", "az2"]
    small, big = c["flavors"]
    # h1: min(6 VCPU, 6144/1024, 80/10) = 6; h2: 4; h3 disabled; h4: one NUMA node's 4.
    assert {z: v["instances"] for z, v in small["zones"].items()} == {"(no zone)": 4, "az1": 6, "az2": 4}
    assert small["total"] == 14
    assert big["total"] == 3
    one = dash.get("/api/capacity", params={"flavor": "x:8:1024"}).json()
    assert one["flavors"][0]["total"] == 0  # no provider has 8 VCPU free in one piece
    assert dash.get("/api/capacity", params={"flavor": "x:y"}).status_code == 400


def test_decisions_come_from_the_scheduler_with_reasons(dash: httpx.Client) -> None:
    decisions = dash.get("/api/decisions").json()["decisions"]
    assert [(d["flavor"], d["outcome"]) for d in decisions] == [("huge", "no_valid_host"), ("boot", "placed")]
    assert decisions[1]["hosts"] == ["h1"]
    assert decisions[0]["reason"]


def test_simulation_results_are_the_simulators_file_as_written(dash: httpx.Client, simulation_results: Path) -> None:
    served = dash.get("/api/simulation").json()
    written = json.loads(simulation_results.read_text())
    assert served == written
    validate_results(served)
    assert served["format"] == "allotment.simulation/1"
    assert [r["label"] for r in served["runs"]] == list(simulated.LABELS)
    for run in served["runs"]:
        assert run["summary"]["hosts"] == simulated.HOSTS and run["summary"]["arrivals"] == simulated.ARRIVALS
        assert run["summary"]["placed"] + run["summary"]["refused"] == simulated.ARRIVALS
        assert run["usage_mismatches"] == []
    # The tiny fleet fills up: the page has refusals by reason and stranded capacity to show.
    assert any(r["refusals"] for r in served["runs"])
    assert any(s["stranded_vcpu_pct"] > 0 or s["stranded_memory_pct"] > 0
               for r in served["runs"] for s in r["samples"])


def _served(path: Path) -> httpx.Response:
    """GET /api/simulation of a dashboard on ``path``; the route never reads placement (a client to nowhere)."""
    from allotment.client import connect

    with connect("http://127.0.0.1:9", retries=0) as placement:
        app = create_app(placement, None, DashboardConfig(simulation=path))
        with httpx.Client(transport=httpx.WSGITransport(app=app), base_url="http://dash") as client:
            return client.get("/api/simulation")


@pytest.mark.parametrize(("content", "code", "needle"), [
    (None, "simulation.missing", "cannot be read"),
    ("{not json", "simulation.not_json", "is not JSON"),
    # The shape the dashboard used to expect, before it read the simulator's format:
    ('{"name": "x", "runs": [{"name": "spread", "summary": {}, "series": []}]}', "simulation.wrong_format",
     "is not a results file of format allotment.simulation/1 (written by `allotment simulate`): at the top level:"),
])
def test_a_wrong_results_file_is_a_503_that_names_it_and_says_why(tmp_path: Path, content: str | None, code: str,
                                                                  needle: str) -> None:
    path = tmp_path / "results.json"
    if content is not None:
        path.write_text(content)
    resp = _served(path)
    assert resp.status_code == 503
    body = resp.json()
    assert body["title"] == "simulation results unreadable" and body["code"] == code
    assert str(path) in body["description"] and needle in body["description"], body


def test_the_committed_comparison_is_served() -> None:
    committed = Path(__file__).parents[2] / "docs" / "simulator" / "spread-vs-pack.json"
    resp = _served(committed)
    assert resp.status_code == 200, resp.text
    assert [r["label"] for r in resp.json()["runs"]] == ["spread", "pack"]


def test_a_results_file_with_a_gap_says_where(tmp_path: Path, simulation_results: Path) -> None:
    document = json.loads(simulation_results.read_text())
    del document["runs"][1]["samples"][3]["util_vcpu"]
    path = tmp_path / "gap.json"
    path.write_text(json.dumps(document))
    resp = _served(path)
    assert resp.status_code == 503
    assert "at runs/1/samples/3: 'util_vcpu' is a required property" in resp.json()["description"]
    # Rewritten correctly, the same path is served again (the file is re-read when it changes).
    path.write_text(simulation_results.read_text() + " ")
    assert _served(path).json()["runs"][1]["label"] == "pack"


def test_the_page_and_its_files_are_served(dash: httpx.Client) -> None:
    page = dash.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "/static/app.js" in page.text
    assert dash.get("/static/app.js").headers["content-type"].startswith("text/javascript")
    assert dash.get("/static/style.css").status_code == 200
    assert dash.get("/static/..%2Fapp.py").status_code == 404
    assert dash.get("/static/nope.js").status_code == 404


def test_placement_down_is_a_503_that_says_so(tmp_path: Path) -> None:
    from allotment.bench.servers import free_port
    from allotment.client import connect

    with connect(f"http://127.0.0.1:{free_port()}", retries=0) as placement:
        app = create_app(placement)
        with httpx.Client(transport=httpx.WSGITransport(app=app), base_url="http://dash") as client:
            resp = client.get("/api/summary")
            assert resp.status_code == 503 and resp.json()["title"] == "placement unavailable"
            assert client.get("/api/decisions").json()["decisions"] == []
            assert client.get("/api/simulation").json()["runs"] == []
