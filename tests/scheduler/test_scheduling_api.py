"""POST /select_destinations and /migrations end to end: the scheduler app (in-process WSGI) over a real
registry and real placement, with the error answers a caller gets for bad input, no host and placement down."""

from __future__ import annotations

import uuid as uuidlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from allotment.bench.servers import free_port
from allotment.client import connect
from allotment.scheduler.api.app import create_app
from allotment.scheduler.selection import TIMING_KEYS
from allotment.scheduler.service import Scheduler
from tests.scheduler.fleet import Fleet, add_ram_graded_hosts, boot_spec, flavor, open_fleet, scheduler_config


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    with open_fleet(tmp_path) as f:
        add_ram_graded_hosts(f)
        yield f


def api_for(scheduler: Scheduler) -> httpx.Client:
    app = create_app(scheduler.registry, scheduler=scheduler)
    return httpx.Client(transport=httpx.WSGITransport(app=app), base_url="http://scheduler")


@pytest.fixture
def api(fleet: Fleet) -> Iterator[httpx.Client]:
    with api_for(fleet.scheduler()) as client:
        yield client


def error_of(resp: httpx.Response, status: int) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    (error,) = resp.json()["errors"]
    assert error["status"] == status
    return dict(error)


def test_select_destinations_claims_and_answers_the_selections(api: httpx.Client, fleet: Fleet) -> None:
    resp = api.post("/select_destinations", json={"request_spec": boot_spec(num_instances=2).to_dict()})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert set(body) == {"reservation_id", "instance_uuids", "selections", "timings"}
    assert set(body["timings"]) == set(TIMING_KEYS)
    assert len(body["instance_uuids"]) == 2 and len(body["selections"]) == 2
    for instance, row in zip(body["instance_uuids"], body["selections"]):
        chosen = row[0]
        assert set(chosen) == {"host", "nodename", "compute_node_uuid", "cell", "allocation_request",
                               "allocation_request_version", "availability_zone", "limits"}
        assert fleet.host_of(instance) == chosen["host"] == "a"
        assert [s["host"] for s in row[1:]] == ["b", "c"]
    assert resp.headers["x-openstack-request-id"].startswith("req-")


def test_alternates_can_be_turned_off(api: httpx.Client) -> None:
    resp = api.post("/select_destinations",
                    json={"request_spec": boot_spec().to_dict(), "return_alternates": False})
    assert [len(row) for row in resp.json()["selections"]] == [1]


def test_no_valid_host_is_a_409_with_the_reason(api: httpx.Client, fleet: Fleet) -> None:
    for name in ("a", "b", "c"):
        fleet.registry.set_host_status(name, disabled=True)
    resp = api.post("/select_destinations", json={"request_spec": boot_spec().to_dict()})
    error = error_of(resp, 409)
    assert error["code"] == "scheduler.no_valid_host"
    assert "ComputeFilter removed 3 of 3 hosts" in error["detail"]
    assert fleet.registry.list_instances() == []


@pytest.mark.parametrize("body, code", [
    ({"request_spec": {**boot_spec().to_dict(), "num_instances": 0}}, "scheduler.invalid_request_spec"),
    ({"request_spec": {"flavor": {"name": "x"}}}, "scheduler.invalid_request_spec"),
    ({"request_spec": {**boot_spec().to_dict(), "version": "9.0"}}, "scheduler.invalid_request_spec"),
    ({"request_spec": {**boot_spec().to_dict(), "project_id": ""}}, "scheduler.invalid_request_spec"),
    ({"request_spec": {**boot_spec().to_dict(), "flavor": {"name": "x", "vcpus": 1, "memory_mb": 1,
                                                          "extra_specs": {"resources:VCPU": "lots"}}}},
     "scheduler.invalid_request_spec"),
    ({"request_spec": boot_spec().to_dict(), "return_alternates": "yes"}, "scheduler.bad_request"),
    ({"request_spec": boot_spec().to_dict(), "surprise": 1}, "scheduler.bad_request"),
    ({}, "scheduler.bad_request"),
    ({"request_spec": []}, "scheduler.bad_request"),
])
def test_bad_requests_are_400_and_claim_nothing(api: httpx.Client, fleet: Fleet, body: Any, code: str) -> None:
    error = error_of(api.post("/select_destinations", json=body), 400)
    assert error["code"] == code
    assert all(not usage for usage in fleet.total_usage().values())


def test_a_filter_refusing_the_request_is_a_400(fleet: Fleet) -> None:
    scheduler = fleet.scheduler(enabled_filters=["ComputeFilter", "JsonFilter"])
    spec = boot_spec(hints={"query": '["=", "$free_ram_mb"'}).to_dict()  # the JSON is cut short
    with api_for(scheduler) as api:
        error = error_of(api.post("/select_destinations", json={"request_spec": spec}), 400)
    assert error["code"] == "scheduler.invalid_request_spec" and "query" in error["detail"]
    assert all(not usage for usage in fleet.total_usage().values())


def test_malformed_json_and_an_unregistered_group_are_400(api: httpx.Client) -> None:
    error = error_of(api.post("/select_destinations", content=b"{nope", headers={"content-type": "application/json"}),
                     400)
    assert error["code"] == "scheduler.bad_request"
    spec = boot_spec().to_dict()
    spec["instance_group"] = {"uuid": str(uuidlib.uuid4()), "policy": "anti-affinity"}
    error = error_of(api.post("/select_destinations", json={"request_spec": spec}), 400)
    assert error["code"] == "scheduler.invalid_request_spec" and "not registered" in error["detail"]


def test_an_instance_that_already_holds_allocations_is_a_409(api: httpx.Client) -> None:
    first = api.post("/select_destinations", json={"request_spec": boot_spec().to_dict()}).json()
    again = boot_spec(instance_uuids=first["instance_uuids"]).to_dict()
    error = error_of(api.post("/select_destinations", json={"request_spec": again}), 409)
    assert error["code"] == "scheduler.instance_in_use"


def test_migrations_move_confirm_and_revert(api: httpx.Client, fleet: Fleet) -> None:
    booted = api.post("/select_destinations", json={"request_spec": boot_spec().to_dict()}).json()
    (instance,) = booted["instance_uuids"]
    source = fleet.allocations(instance)

    migration = str(uuidlib.uuid4())
    spec = boot_spec(flavor("large", vcpus=2, memory_mb=2048), instance_uuids=[instance]).to_dict()
    resp = api.post("/migrations", json={"request_spec": spec, "migration_uuid": migration})
    assert resp.status_code == 200, resp.text
    assert resp.json()["migration_uuid"] == migration
    assert resp.json()["selections"][0][0]["host"] == "b"
    assert fleet.allocations(migration) == source

    resp = api.post(f"/migrations/{migration}/revert", json={"instance_uuid": instance})
    assert resp.status_code == 204, resp.text
    assert fleet.allocations(instance) == source and fleet.allocations(migration) == {}
    error = error_of(api.post(f"/migrations/{migration}/confirm", json={"instance_uuid": instance}), 404)
    assert error["code"] == "scheduler.migration_not_found"

    second = str(uuidlib.uuid4())
    assert api.post("/migrations", json={"request_spec": spec, "migration_uuid": second}).status_code == 200
    resp = api.post(f"/migrations/{second}/confirm", json={"instance_uuid": instance})
    assert resp.status_code == 204, resp.text
    assert fleet.host_of(instance) == "b" and fleet.usages("a") == {}


def test_migration_errors(api: httpx.Client) -> None:
    spec = boot_spec(instance_uuids=[str(uuidlib.uuid4())]).to_dict()
    error = error_of(api.post("/migrations", json={"request_spec": spec, "migration_uuid": str(uuidlib.uuid4())}),
                     409)
    assert error["code"] == "scheduler.migration_conflict"
    error = error_of(api.post("/migrations", json={"request_spec": spec, "migration_uuid": "not-a-uuid"}), 400)
    assert error["code"] == "scheduler.bad_request"
    error = error_of(api.post("/migrations", json={"request_spec": boot_spec(num_instances=2).to_dict(),
                                                   "migration_uuid": str(uuidlib.uuid4())}), 400)
    assert error["code"] == "scheduler.invalid_request_spec"
    error = error_of(api.post("/migrations/nope/revert", json={"instance_uuid": str(uuidlib.uuid4())}), 400)
    assert error["code"] == "scheduler.bad_request"
    error = error_of(api.post(f"/migrations/{uuidlib.uuid4()}/revert", json={}), 400)
    assert error["code"] == "scheduler.bad_request"


def test_the_routes_are_listed_and_only_with_a_scheduler(api: httpx.Client, fleet: Fleet) -> None:
    assert "/select_destinations" in api.get("/").json()["routes"]
    plain = httpx.Client(transport=httpx.WSGITransport(app=create_app(fleet.registry)), base_url="http://s")
    with plain:
        assert plain.post("/select_destinations", json={}).status_code == 404


def test_placement_out_of_reach_is_a_503(fleet: Fleet) -> None:
    nowhere = connect(f"http://127.0.0.1:{free_port()}", retries=0, timeout=2)
    scheduler = Scheduler(nowhere, fleet.registry, scheduler_config())
    with nowhere, api_for(scheduler) as api:
        error = error_of(api.post("/select_destinations", json={"request_spec": boot_spec().to_dict()}), 503)
    assert error["code"] == "scheduler.placement_unavailable"
