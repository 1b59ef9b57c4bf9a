"""Provider-side behaviour beyond the upstream gabbits: trees, generations, deletion rules."""

from __future__ import annotations

import uuid

import httpx


def make(api: httpx.Client, name: str, parent: str | None = None) -> dict[str, object]:
    body: dict[str, object] = {"name": name, "uuid": str(uuid.uuid4())}
    if parent:
        body["parent_provider_uuid"] = parent
    resp = api.post("/resource_providers", json=body)
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_reparenting_moves_the_whole_subtree(api: httpx.Client) -> None:
    root_a, root_b = make(api, "a"), make(api, "b")
    numa = make(api, "numa", str(root_a["uuid"]))
    gpu = make(api, "gpu", str(numa["uuid"]))
    resp = api.put(f"/resource_providers/{numa['uuid']}", json={"name": "numa", "parent_provider_uuid": root_b["uuid"]})
    assert resp.status_code == 200, resp.text
    moved = api.get(f"/resource_providers/{gpu['uuid']}").json()
    assert moved["root_provider_uuid"] == root_b["uuid"]
    tree_b = {p["uuid"] for p in api.get(f"/resource_providers?in_tree={root_b['uuid']}").json()["resource_providers"]}
    assert tree_b == {root_b["uuid"], numa["uuid"], gpu["uuid"]}


def test_reparenting_refused_before_1_37_and_loops_refused(api: httpx.Client) -> None:
    a, b = make(api, "a"), make(api, "b")
    child = make(api, "c", str(a["uuid"]))
    old = api.put(
        f"/resource_providers/{child['uuid']}",
        json={"name": "c", "parent_provider_uuid": b["uuid"]},
        headers={"openstack-api-version": "placement 1.36"},
    )
    assert old.status_code == 400 and "re-parenting a provider is not currently allowed" in old.text
    loop = api.put(f"/resource_providers/{a['uuid']}", json={"name": "a", "parent_provider_uuid": child["uuid"]})
    assert loop.status_code == 400 and "creating loop" in loop.text


def test_stale_generation_is_a_conflict_and_writes_nothing(api: httpx.Client) -> None:
    rp = make(api, "rp")
    url = f"/resource_providers/{rp['uuid']}/inventories"
    first = api.put(url, json={"resource_provider_generation": 0, "inventories": {"VCPU": {"total": 8}}})
    assert first.status_code == 200 and first.json()["resource_provider_generation"] == 1
    stale = api.put(url, json={"resource_provider_generation": 0, "inventories": {"VCPU": {"total": 99}}})
    assert stale.status_code == 409
    assert stale.json()["errors"][0]["code"] == "placement.concurrent_update"
    assert api.get(url).json()["inventories"]["VCPU"]["total"] == 8


def test_provider_with_children_or_allocations_cannot_be_deleted(api: httpx.Client) -> None:
    parent = make(api, "parent")
    child = make(api, "child", str(parent["uuid"]))
    resp = api.delete(f"/resource_providers/{parent['uuid']}")
    assert resp.status_code == 409
    assert resp.json()["errors"][0]["code"] == "placement.resource_provider.cannot_delete_parent"
    api.put(
        f"/resource_providers/{child['uuid']}/inventories",
        json={"resource_provider_generation": 0, "inventories": {"VCPU": {"total": 4}}},
    )
    consumer = str(uuid.uuid4())
    claim = {
        "allocations": {child["uuid"]: {"resources": {"VCPU": 1}}},
        "project_id": "p",
        "user_id": "u",
        "consumer_generation": None,
        "consumer_type": "INSTANCE",
    }
    assert api.put(f"/allocations/{consumer}", json=claim).status_code == 204
    resp = api.delete(f"/resource_providers/{child['uuid']}")
    assert resp.status_code == 409
    assert resp.json()["errors"][0]["code"] == "placement.resource_provider.inuse"
    assert api.delete(f"/allocations/{consumer}").status_code == 204
    assert api.delete(f"/resource_providers/{child['uuid']}").status_code == 204
    assert api.delete(f"/resource_providers/{parent['uuid']}").status_code == 204


def test_claim_beyond_capacity_is_refused_and_usage_unchanged(api: httpx.Client) -> None:
    rp = make(api, "rp")
    api.put(
        f"/resource_providers/{rp['uuid']}/inventories",
        json={"resource_provider_generation": 0, "inventories": {"VCPU": {"total": 4, "allocation_ratio": 2.0}}},
    )

    def claim(amount: int) -> httpx.Response:
        body = {
            "allocations": {rp["uuid"]: {"resources": {"VCPU": amount}}},
            "project_id": "p",
            "user_id": "u",
            "consumer_generation": None,
            "consumer_type": "INSTANCE",
        }
        return api.put(f"/allocations/{uuid.uuid4()}", json=body)

    assert claim(6).status_code == 204
    over = claim(3)
    assert over.status_code == 409 and "would exceed the capacity" in over.text
    assert claim(2).status_code == 204
    assert api.get(f"/resource_providers/{rp['uuid']}/usages").json()["usages"] == {"VCPU": 8}


def _claim(api: httpx.Client, rp: str, resources: dict[str, int]) -> httpx.Response:
    body = {
        "allocations": {rp: {"resources": resources}},
        "project_id": "p",
        "user_id": "u",
        "consumer_generation": None,
        "consumer_type": "INSTANCE",
    }
    return api.put(f"/allocations/{uuid.uuid4()}", json=body)


def _busy_provider(api: httpx.Client) -> tuple[str, str, int]:
    """A provider with VCPU total 8 of which 6 are allocated: (uuid, inventories url, generation)."""
    rp = make(api, "rp")
    url = f"/resource_providers/{rp['uuid']}/inventories"
    api.put(url, json={"resource_provider_generation": 0, "inventories": {"VCPU": {"total": 8}}})
    assert _claim(api, str(rp["uuid"]), {"VCPU": 6}).status_code == 204
    return str(rp["uuid"]), url, api.get(url).json()["resource_provider_generation"]


def test_inventory_shrinking_below_usage_refused_when_configured(store: object) -> None:
    from allotment.placement.api.app import make_app
    from allotment.placement.config import Config
    from tests.conftest import ADMIN

    app = make_app(Config(refuse_inventory_below_usage=True), store)  # type: ignore[arg-type]
    api = httpx.Client(transport=httpx.WSGITransport(app=app), base_url="http://p", headers=ADMIN)
    rp, url, gen = _busy_provider(api)
    shrink = api.put(url, json={"resource_provider_generation": gen, "inventories": {"VCPU": {"total": 4}}})
    assert shrink.status_code == 409
    assert shrink.json()["errors"][0]["code"] == "placement.inventory.inuse"
    one = api.put(f"{url}/VCPU", json={"resource_provider_generation": gen, "total": 8, "reserved": 3})
    assert one.status_code == 409
    # Shrinking to exactly the usage is fine.
    ok = api.put(f"{url}/VCPU", json={"resource_provider_generation": gen, "total": 8, "reserved": 2})
    assert ok.status_code == 200, ok.text
    assert api.get(url).json()["inventories"]["VCPU"]["reserved"] == 2


def test_by_default_inventory_may_shrink_below_usage_as_upstream(api: httpx.Client) -> None:
    rp, url, gen = _busy_provider(api)
    shrink = api.put(url, json={"resource_provider_generation": gen, "inventories": {"VCPU": {"total": 4}}})
    assert shrink.status_code == 200
    assert _claim(api, rp, {"VCPU": 1}).status_code == 409


def test_consumer_generation_conflict_message_matches_upstream(api: httpx.Client) -> None:
    # Clients log this text; upstream prints Python's None for a missing generation.
    rp = make(api, "rp")
    api.put(
        f"/resource_providers/{rp['uuid']}/inventories",
        json={"resource_provider_generation": 0, "inventories": {"VCPU": {"total": 4}}},
    )
    consumer = str(uuid.uuid4())
    body = {"allocations": {rp["uuid"]: {"resources": {"VCPU": 1}}}, "project_id": "p", "user_id": "u",
            "consumer_generation": None, "consumer_type": "INSTANCE"}
    assert api.put(f"/allocations/{consumer}", json=body).status_code == 204
    again = api.put(f"/allocations/{consumer}", json=body)
    assert again.status_code == 409
    assert "consumer generation conflict - expected 1 but got None" in again.json()["errors"][0]["detail"]
    fresh = api.put(f"/allocations/{uuid.uuid4()}", json={**body, "consumer_generation": 3})
    assert "expected null but got 3" in fresh.json()["errors"][0]["detail"]
