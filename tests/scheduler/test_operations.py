"""The scheduler's /metrics, /healthz, /readyz and /decisions: names and values after a known sequence
of decisions, the reasons of refusals, and readiness with the registry's database unusable."""

from __future__ import annotations

import uuid as uuidlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from allotment.bench.servers import free_port
from allotment.scheduler.api.app import create_app
from allotment.scheduler.registry import Registry
from tests.metrics_text import Scrape
from tests.scheduler.fleet import Fleet, boot_spec, flavor, open_fleet

S = "allotment_scheduler_"
PHASES = ("request_filters", "placement_query", "host_states", "filtering", "weighing", "claim", "total")


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    with open_fleet(tmp_path) as f:
        yield f


def _api(fleet: Fleet, **options: object) -> httpx.Client:
    app = create_app(fleet.registry, scheduler=fleet.scheduler(**options), placement=fleet.placement)
    return httpx.Client(transport=httpx.WSGITransport(app=app), base_url="http://scheduler")


def scrape(api: httpx.Client) -> Scrape:
    resp = api.get("/metrics")
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/plain")
    return Scrape(resp.text)


def test_decisions_phases_claims_and_requests_are_counted(fleet: Fleet) -> None:
    fleet.add_host("h1", vcpus=2, memory_mb=4096)
    fleet.add_host("h2", vcpus=2, memory_mb=2048)
    with _api(fleet) as api:
        before = scrape(api)
        big = flavor("big", vcpus=2, memory_mb=1024)
        for _ in range(2):
            assert api.post("/select_destinations", json={"request_spec": boot_spec(big).to_dict()}).status_code == 200
        refused = api.post("/select_destinations", json={"request_spec": boot_spec(big).to_dict()})
        assert refused.status_code == 409
        assert api.post("/select_destinations", json={"request_spec": {"flavor": 1}}).status_code == 400
        assert api.get("/hosts/nope").status_code == 404
        after = scrape(api)

    def d(name: str, **labels: str) -> float:
        return after.delta(before, S + name, **labels)

    assert d("decisions_total", kind="boot", outcome="placed") == 2
    assert d("decisions_total", kind="boot", outcome="no_valid_host") == 1
    assert d("decisions_total", kind="boot", outcome="error") == 0  # the malformed spec is refused before
    for phase in PHASES:
        assert d("phase_seconds_count", kind="boot", phase=phase) == 3
    assert d("phase_seconds_sum", kind="boot", phase="total") > 0
    # Placement offered 2 hosts, then 1, then none.
    assert d("hosts_considered_count", kind="boot") == 3
    assert d("hosts_considered_sum", kind="boot") == 3
    assert d("claims_total", outcome="claimed") == 2
    assert d("claims_total", outcome="conflict") == 0
    assert d("requests_total", route="/select_destinations", method="POST", status="200") == 2
    assert d("requests_total", route="/select_destinations", method="POST", status="409") == 1
    assert d("request_errors_total", route="/select_destinations", method="POST", status="400") == 1
    assert d("request_errors_total", route="/hosts/{name}", method="GET", status="404") == 1
    assert d("request_duration_seconds_count", route="/select_destinations", method="POST") == 4
    assert after.total(S + "requests_total", route="/metrics") == 0


def test_a_lost_claim_race_counts_as_a_conflict_and_a_retry(fleet: Fleet) -> None:
    """Another consumer takes the best host between the query and the claim: 409, the next host is claimed."""
    fleet.add_host("a", vcpus=1, memory_mb=8192)
    fleet.add_host("b", vcpus=1, memory_mb=4096)
    scheduler = fleet.scheduler()
    real = scheduler.placement.put_allocations
    stolen: list[str] = []

    def race(consumer: str, allocations: object) -> object:
        if not stolen:  # the first claim finds the host taken by someone else meanwhile
            stolen.append(consumer)
            fleet.placement.put_allocations(str(uuidlib.uuid4()), allocations)  # type: ignore[arg-type]
        return real(consumer, allocations)  # type: ignore[arg-type]

    scheduler.placement.put_allocations = race  # type: ignore[method-assign]
    app = create_app(fleet.registry, scheduler=scheduler)
    with httpx.Client(transport=httpx.WSGITransport(app=app), base_url="http://scheduler") as api:
        before = scrape(api)
        resp = api.post("/select_destinations", json={"request_spec": boot_spec().to_dict()})
        assert resp.status_code == 200, resp.text
        assert resp.json()["selections"][0][0]["host"] == "b"
        after = scrape(api)
    assert after.delta(before, S + "claims_total", outcome="conflict") == 1
    assert after.delta(before, S + "claims_total", outcome="claimed") == 1
    assert after.delta(before, S + "claim_retries_total", kind="boot") == 1


def test_decisions_log_keeps_reasons_newest_first_and_bounded(fleet: Fleet) -> None:
    fleet.add_host("h1", vcpus=1, memory_mb=1024)
    with _api(fleet, decision_log_size=3) as api:
        assert api.post("/select_destinations", json={"request_spec": boot_spec().to_dict()}).status_code == 200
        for _ in range(3):
            assert api.post("/select_destinations", json={"request_spec": boot_spec().to_dict()}).status_code == 409
        decisions = api.get("/decisions").json()["decisions"]
        assert len(decisions) == 3  # the placed one dropped out of the ring
        assert [d["outcome"] for d in decisions] == ["no_valid_host"] * 3
        assert decisions[0]["id"] > decisions[1]["id"] > decisions[2]["id"]
        refusal = decisions[0]
        assert refusal["hosts"] == [] and refusal["hosts_considered"] == 0 and refusal["flavor"] == "small"
        assert refusal["reason"] == "placement found no allocation candidates for the request"
        assert set(refusal["timings_ms"]) == set(PHASES)
        assert [d["outcome"] for d in api.get("/decisions?limit=1").json()["decisions"]] == ["no_valid_host"]
        assert api.get("/decisions?outcome=placed").json()["decisions"] == []
        assert api.get("/decisions?outcome=bogus").status_code == 400
        assert api.get("/decisions?limit=x").status_code == 400


def test_a_placed_decision_names_its_hosts_and_alternates(fleet: Fleet) -> None:
    for name in ("h1", "h2", "h3"):
        fleet.add_host(name)
    with _api(fleet, max_attempts=2) as api:
        result = api.post("/select_destinations", json={"request_spec": boot_spec(num_instances=2).to_dict()}).json()
        [decision] = api.get("/decisions?outcome=placed").json()["decisions"]
    assert decision["hosts"] == [s[0]["host"] for s in result["selections"]]
    assert decision["alternates"] == sum(len(s) - 1 for s in result["selections"]) == 2
    assert decision["num_instances"] == 2 and decision["hosts_considered"] == 3 and decision["reason"] is None
    assert decision["reservation_id"] == result["reservation_id"]


def test_registry_gauges_hosts_by_zone_and_aggregate_info(fleet: Fleet) -> None:
    for name in ("h1", "h2", "h3"):
        fleet.add_host(name)
    with _api(fleet) as api:
        agg = api.post("/aggregates", json={"name": "rack1", "metadata": {"availability_zone": "az1"}}).json()
        for name in ("h1", "h2"):
            assert api.put(f"/aggregates/{agg['uuid']}/hosts/{name}").status_code == 200
        assert api.put("/hosts/h2/status", json={"disabled": True, "disabled_reason": "maintenance"}).status_code == 200
        fleet.registry.heartbeat("h1")
        fleet.registry.heartbeat("h3")
        s = scrape(api)
    assert s.value(S + "registry_up") == 1
    assert s.value(S + "aggregate_info", aggregate=agg["uuid"], name="rack1", availability_zone="az1") == 1
    assert s.value(S + "hosts", availability_zone="az1", state="up") == 1
    assert s.value(S + "hosts", availability_zone="az1", state="disabled") == 1
    assert s.value(S + "hosts", availability_zone="", state="up") == 1


def test_health_and_readiness(fleet: Fleet) -> None:
    with _api(fleet) as api:
        assert api.get("/healthz").json() == {"status": "alive"}
        ready = api.get("/readyz")
        assert ready.status_code == 200 and ready.json()["checks"]["registry"]["schema"] == "current"
        routes = api.get("/").json()["routes"]
        assert not {"/metrics", "/healthz", "/readyz"} & set(routes)


def test_not_ready_when_the_registry_database_cannot_be_reached(tmp_path: Path) -> None:
    registry = Registry.open(f"postgresql://postgres@127.0.0.1:{free_port()}/registry", migrate=False)
    app = create_app(registry)
    with httpx.Client(transport=httpx.WSGITransport(app=app), base_url="http://scheduler") as api:
        resp = api.get("/readyz")
        assert resp.status_code == 503
        assert resp.json()["checks"]["registry"]["database"] == "unusable"
        assert api.get("/healthz").status_code == 200
        assert Scrape(api.get("/metrics").text).value(S + "registry_up") == 0
    registry.close()


def test_not_ready_without_the_registry_schema(tmp_path: Path) -> None:
    registry = Registry.open(f"sqlite:///{tmp_path}/empty.sqlite", migrate=False)
    with httpx.Client(transport=httpx.WSGITransport(app=create_app(registry)), base_url="http://s") as api:
        resp = api.get("/readyz")
        assert resp.status_code == 503 and resp.json()["checks"]["registry"]["schema"] == "missing"
    registry.close()


def test_zones_join_placement_capacity_by_aggregate_uuid(fleet: Fleet) -> None:
    """The scheduler mirrors host aggregates into placement under the same uuid: the PromQL join holds."""
    fleet.add_host("h1", vcpus=8)
    fleet.add_host("h2", vcpus=4)
    with _api(fleet) as api:
        agg = api.post("/aggregates", json={"name": "rack1", "metadata": {"availability_zone": "az1"}}).json()
        assert api.put(f"/aggregates/{agg['uuid']}/hosts/h1").status_code == 200
        zones = scrape(api)
    capacity = Scrape(fleet.placement.http.get("/metrics").text)
    assert zones.value(S + "aggregate_info", aggregate=agg["uuid"], name="rack1", availability_zone="az1") == 1
    assert capacity.value("allotment_placement_capacity_usable_by_aggregate", resource_class="VCPU",
                          aggregate=agg["uuid"]) == 8
