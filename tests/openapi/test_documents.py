"""The committed OpenAPI documents: equal to what the generators build, served without a token,
and (for the scheduler) every answer of a scenario over all its routes valid against its document."""

from __future__ import annotations

import json
import uuid as uuidlib
from pathlib import Path
from typing import Any

import httpx
import pytest

from allotment.infra.exchange_log import ExchangeRecorder
from allotment.infra.openapi import dumps
from allotment.placement.api import openapi as placement_openapi
from allotment.placement.api.routes import ROUTES
from allotment.scheduler.api import openapi as scheduler_openapi
from allotment.scheduler.api.app import create_app
from tests.openapi.exchanges import PLACEMENT_DOC, SCHEDULER_DOC, check_records, read_records
from tests.scheduler.fleet import add_ram_graded_hosts, boot_spec, flavor, open_fleet

REGENERATE = "regenerate with: python -m allotment.{}.api.openapi docs/openapi/{}.json"


def test_committed_placement_document_is_the_generated_one() -> None:
    assert PLACEMENT_DOC.read_text() == dumps(placement_openapi.build()), REGENERATE.format("placement", "placement")


def test_committed_scheduler_document_is_the_generated_one() -> None:
    assert SCHEDULER_DOC.read_text() == dumps(scheduler_openapi.build()), REGENERATE.format("scheduler", "scheduler")


def test_every_placement_route_and_microversion_range_is_described() -> None:
    doc = placement_openapi.build()
    assert {(p, m.upper()) for p, ms in doc["paths"].items() for m in ms} == {
        (p, m) for p, ms in ROUTES.items() for m in ms}
    ops = doc["paths"]
    assert ops["/reshaper"]["post"]["x-microversion"] == {"min": "1.30", "max": "1.39"}
    assert ops["/resource_providers/{uuid}/aggregates"]["get"]["x-microversion"]["min"] == "1.1"
    # The shapes that change with the microversion are alternatives, each titled with its range.
    listing = ops["/resource_providers"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert [b["title"] for b in listing["anyOf"]] == ["microversion 1.0 to 1.13", "microversion 1.14 and later"]


def test_placement_serves_its_document_without_a_token(api: httpx.Client, store: Any) -> None:
    api.headers.pop("x-auth-token")
    resp = api.get("/openapi.json")
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "application/json"
    assert resp.json() == json.loads(PLACEMENT_DOC.read_text())
    assert api.get("/resource_providers").status_code == 401  # the rest still needs one


def test_scheduler_answers_validate_against_its_document(tmp_path: Path) -> None:
    """Every route of the scheduler once or more, successes and errors, through the exchange recorder."""
    record = tmp_path / "exchanges.jsonl"
    with open_fleet(tmp_path) as fleet:
        add_ram_graded_hosts(fleet)
        app = create_app(fleet.registry, scheduler=fleet.scheduler())
        with httpx.Client(transport=httpx.WSGITransport(app=ExchangeRecorder(app, str(record))),
                          base_url="http://scheduler") as api:
            _scheduler_scenario(api, str(uuidlib.uuid4()))
    report = check_records(json.loads(SCHEDULER_DOC.read_text()), read_records(record))
    assert report.violations == []
    doc = json.loads(SCHEDULER_DOC.read_text())
    every = {f"{m.upper()} {p}" for p, ms in doc["paths"].items() for m in ms}
    assert every - set(report.by_operation) == set()


def _scheduler_scenario(api: httpx.Client, provider: str) -> None:
    def ok(resp: httpx.Response, *statuses: int) -> Any:
        assert resp.status_code in statuses, resp.text
        return resp.json() if resp.content else None

    ok(api.get("/"), 200)
    ok(api.get("/openapi.json"), 200)
    ok(api.get("/hosts"), 200)
    ok(api.get("/hosts?cell=nowhere"), 200)
    ok(api.put("/hosts/d", json={"provider_uuid": provider, "stats": {"k": "v"}}), 201)
    ok(api.put("/hosts/d", json={"provider_uuid": provider, "cpu_info": {"arch": "x86_64"}}), 200)
    ok(api.put("/hosts/d", json={"provider_uuid": 5}), 400)
    ok(api.put("/hosts/d", content=b"x", headers={"content-type": "text/plain"}), 415)
    ok(api.get("/hosts/d"), 200)
    ok(api.get("/hosts/nope"), 404)
    ok(api.post("/hosts/d/heartbeat"), 204)
    ok(api.put("/hosts/d/status", json={"disabled": True, "disabled_reason": "maintenance"}), 200)
    agg = ok(api.post("/aggregates", json={"name": "rack1", "metadata": {"availability_zone": "az1"}}), 201)
    ok(api.post("/aggregates", json={"name": "rack1"}), 409)
    ok(api.get("/aggregates"), 200)
    ok(api.get(f"/aggregates/{agg['uuid']}"), 200)
    ok(api.get("/aggregates/not-a-uuid"), 400)
    ok(api.put(f"/aggregates/{agg['uuid']}", json={"name": "rack2"}), 200)
    ok(api.post(f"/aggregates/{agg['uuid']}/metadata", json={"metadata": {"k": "v", "availability_zone": None}}), 200)
    ok(api.put(f"/aggregates/{agg['uuid']}/hosts/d"), 200)
    ok(api.delete(f"/aggregates/{agg['uuid']}/hosts/d"), 200)
    ok(api.delete(f"/aggregates/{agg['uuid']}"), 204)
    group = ok(api.post("/server_groups", json={"name": "g", "policy": "anti-affinity"}), 201)
    ok(api.get("/server_groups"), 200)
    ok(api.get("/server_groups?project_id=p"), 200)
    ok(api.get(f"/server_groups/{group['uuid']}"), 200)
    member, other = str(uuidlib.uuid4()), str(uuidlib.uuid4())
    ok(api.put(f"/server_groups/{group['uuid']}/members/{member}", json={"host": "a"}), 200)
    ok(api.put(f"/server_groups/{group['uuid']}/members/{other}", json={"host": "a"}), 409)
    ok(api.delete(f"/server_groups/{group['uuid']}/members/{member}"), 204)
    ok(api.delete(f"/server_groups/{group['uuid']}"), 204)
    instance = str(uuidlib.uuid4())
    ok(api.put(f"/instances/{instance}", json={"host": "a", "vcpus": 1, "memory_mb": 512}), 201)
    ok(api.put(f"/instances/{instance}", json={"task_state": "spawning"}), 200)
    ok(api.get("/instances"), 200)
    ok(api.get("/instances?host=a"), 200)
    ok(api.get(f"/instances/{instance}"), 200)
    ok(api.delete(f"/instances/{instance}"), 204)
    ok(api.delete("/hosts/d"), 204)
    chosen = ok(api.post("/select_destinations", json={"request_spec": boot_spec().to_dict()}), 200)
    ok(api.post("/select_destinations", json={"request_spec": {"flavor": {"name": "x"}}}), 400)
    ok(api.post("/select_destinations", json={"request_spec": boot_spec().to_dict(), "dry_run": True}), 200)
    ok(api.post("/select_destinations", json={"request_spec": boot_spec(flavor(vcpus=64)).to_dict()}), 409)
    ok(api.get("/capacity", params={"vcpus": 1, "memory_mb": 512, "by": "az"}), 200)
    ok(api.get("/capacity", params={"vcpus": 1}), 400)
    spec = boot_spec(instance_uuids=chosen["instance_uuids"]).to_dict()
    migration = str(uuidlib.uuid4())
    ok(api.post("/migrations", json={"request_spec": spec, "migration_uuid": migration}), 200)
    ok(api.post(f"/migrations/{migration}/revert", json={"instance_uuid": chosen["instance_uuids"][0]}), 204)
    again = str(uuidlib.uuid4())
    ok(api.post("/migrations", json={"request_spec": spec, "migration_uuid": again}), 200)
    ok(api.post(f"/migrations/{again}/confirm", json={"instance_uuid": chosen["instance_uuids"][0]}), 204)
    ok(api.post(f"/migrations/{again}/confirm", json={"instance_uuid": chosen["instance_uuids"][0]}), 404, 409)
    decisions = ok(api.get("/decisions?limit=2"), 200)["decisions"]
    assert [d["kind"] for d in decisions] == ["move", "move"]
    ok(api.get("/decisions?outcome=no_valid_host"), 200)
    ok(api.get("/decisions?limit=0"), 400)
    ok(api.get("/nowhere"), 404)
    ok(api.patch("/hosts"), 405)


pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")
