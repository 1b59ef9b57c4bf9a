"""The dashboard's JSON over a real in-process placement and scheduler: the numbers the page draws."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from allotment.dashboard.app import DashboardConfig, create_app
from allotment.dashboard.fleet import FlavorSize
from allotment.scheduler.api.app import create_app as create_scheduler_app
from allotment.scheduler.client import SchedulerClient
from tests.dashboard import scene
from tests.scheduler.fleet import open_fleet

FLAVORS = [FlavorSize("s", 1, 1024, 10), FlavorSize("big", 4, 4096, 0)]


@pytest.fixture
def dash(tmp_path: Path) -> Iterator[httpx.Client]:
    with open_fleet(tmp_path) as fleet:
        api = create_scheduler_app(fleet.registry, scheduler=fleet.scheduler(), placement=fleet.placement)
        scheduler = SchedulerClient(httpx.Client(transport=httpx.WSGITransport(app=api), base_url="http://s"))
        results = scene.build(fleet.placement, scheduler, tmp_path)
        app = create_app(fleet.placement, scheduler, DashboardConfig(flavors=FLAVORS, simulation=results,
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


def test_simulation_results_are_served_as_written(dash: httpx.Client) -> None:
    assert dash.get("/api/simulation").json() == scene.SIMULATION


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
