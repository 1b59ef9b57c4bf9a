"""Answers where allotment differed from upstream Placement 16.0.0, found by the
differential tester (tests/placement/differential); each test pins upstream's answer."""

from __future__ import annotations

import httpx

from allotment.infra.database import Database
from allotment.placement.api.app import make_app
from allotment.placement.config import Config

V = {"openstack-api-version": "placement 1.39"}


def _provider(api: httpx.Client, name: str = "rp", **extra: object) -> str:
    resp = api.post("/resource_providers", json={"name": name, **extra})
    assert resp.status_code == 200, resp.text
    return str(resp.json()["uuid"])


def _detail(resp: httpx.Response) -> str:
    return str(resp.json()["errors"][0]["detail"])


def test_method_newer_than_the_microversion_is_a_bare_405(api: httpx.Client) -> None:
    rp = _provider(api)
    resp = api.delete(f"/resource_providers/{rp}/inventories", headers={"openstack-api-version": "placement 1.4"})
    assert resp.status_code == 405
    assert _detail(resp) == "The method DELETE is not allowed for this resource. \n\n "


def test_missing_parent_is_reported_before_a_duplicate_name(api: httpx.Client) -> None:
    _provider(api, "taken")
    resp = api.post(
        "/resource_providers", json={"name": "taken", "parent_provider_uuid": "7" * 8 + "-0000-4000-8000-" + "0" * 12}
    )
    assert resp.status_code == 400
    assert "parent provider UUID does not exist" in _detail(resp)


def _gen(api: httpx.Client, rp: str) -> int:
    return int(api.get(f"/resource_providers/{rp}").json()["generation"])


def test_update_inventory_of_unknown_class_is_404_known_class_without_inventory_is_400(api: httpx.Client) -> None:
    rp = _provider(api)
    body = {"total": 4, "resource_provider_generation": 0}
    resp = api.put(f"/resource_providers/{rp}/inventories/CUSTOM_NOPE", json=body)
    assert resp.status_code == 404
    assert _detail(resp) == "The resource could not be found.\n\n No such resource class CUSTOM_NOPE.  "
    resp = api.put(f"/resource_providers/{rp}/inventories/VCPU", json=body)
    assert resp.status_code == 400
    assert "No inventory of class VCPU found." in _detail(resp)


def test_delete_inventory_details_name_the_missing_class_or_inventory(api: httpx.Client) -> None:
    rp = _provider(api)
    resp = api.delete(f"/resource_providers/{rp}/inventories/CUSTOM_NOPE")
    assert resp.status_code == 404
    assert _detail(resp) == (
        "The resource could not be found.\n\n "
        "No inventory of class CUSTOM_NOPE found for delete: No such resource class CUSTOM_NOPE.  "
    )
    resp = api.delete(f"/resource_providers/{rp}/inventories/VCPU")
    assert resp.status_code == 404
    assert _detail(resp) == (
        "The resource could not be found.\n\n "
        "No inventory of class VCPU found for delete: No inventory of class VCPU found for delete  "
    )


def test_set_inventories_key_that_is_no_class_name(api: httpx.Client) -> None:
    """Not a schema error: the generation is checked first, then the class is unknown."""
    rp = _provider(api)
    invs = {"VCPU": {"total": 4}, "bad!": {"total": 2}}
    resp = api.put(
        f"/resource_providers/{rp}/inventories", json={"inventories": invs, "resource_provider_generation": 7}
    )
    assert resp.status_code == 409
    resp = api.put(
        f"/resource_providers/{rp}/inventories", json={"inventories": invs, "resource_provider_generation": 0}
    )
    assert resp.status_code == 400
    assert f"Unknown resource class in inventory for resource provider {rp}: No such resource class bad!." in _detail(
        resp
    )
    # The record under such a key is validated after the generation check (upstream
    # answers 500 for a wrong type there).
    invs = {"bad!": {"total": 1, "step_size": 0}}
    resp = api.put(f"/resource_providers/{rp}/inventories", json={"inventories": invs, "resource_provider_generation": 7})
    assert resp.status_code == 409
    invs = {"bad!": {"total": "x"}}
    resp = api.put(
        f"/resource_providers/{rp}/inventories", json={"inventories": invs, "resource_provider_generation": 0}
    )
    assert resp.status_code == 400
    assert "JSON does not validate" in _detail(resp)
    assert _gen(api, rp) == 0


def test_refusal_for_the_wrong_scope_names_only_the_rule(store: Database) -> None:
    """Upstream's detail for a system-scoped token on a project-scoped rule is the bare rule name."""
    config = Config(enforce_new_defaults=True, enforce_scope=True)
    app = make_app(config, store)
    headers = {"x-auth-token": "admin", "openstack-system-scope": "all", "openstack-api-version": "placement 1.39"}
    with httpx.Client(transport=httpx.WSGITransport(app=app), base_url="http://placement", headers=headers) as c:
        resp = c.get("/resource_providers")
    assert resp.status_code == 403
    assert _detail(resp) == "Access was denied to this resource.\n\n placement:resource_providers:list  "


def test_empty_provider_name_is_refused_on_create(api: httpx.Client) -> None:
    uuid = "8c53674e-1e33-4ecd-9b19-30f050a9ab01"
    resp = api.post("/resource_providers", json={"name": "", "uuid": uuid})
    assert resp.status_code == 400
    assert _detail(resp).endswith(
        f'Unable to create resource provider "", {uuid}: Object action create failed because: name is required  '
    )
    assert api.get(f"/resource_providers/{uuid}").status_code == 404


def test_allocations_on_providers_without_inventory_name_them_all(api: httpx.Client) -> None:
    rp1, rp2 = sorted([_provider(api, "a"), _provider(api, "b")])
    c1, c2 = "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"
    owner = {"project_id": "p", "user_id": "u", "consumer_generation": None}
    body = {
        c1: {"allocations": {rp1: {"resources": {"DISK_GB": 1}}}, **owner},
        c2: {"allocations": {rp2: {"resources": {"VCPU": 1}}}, **owner},
    }
    resp = api.post("/allocations", json=body, headers={"openstack-api-version": "placement 1.28"})
    assert resp.status_code == 409, resp.text
    assert f"Inventory for 'VCPU, DISK_GB' on resource provider '{rp1}, {rp2}' invalid." in _detail(resp)


def test_listing_providers_is_empty_before_later_filters_are_checked(api: httpx.Client) -> None:
    """Required traits no provider has, or aggregates no provider is in, give an empty list
    before an unknown forbidden trait or resource class is noticed (upstream's order)."""
    _provider(api)
    agg = "33333333-3333-4333-8333-333333333333"
    for query in (
        "required=HW_CPU_X86_SSE,!CUSTOM_NOPE",
        f"member_of={agg}&resources=CUSTOM_NOPE:1",
    ):
        resp = api.get(f"/resource_providers?{query}")
        assert (resp.status_code, resp.json()) == (200, {"resource_providers": []}), query
    resp = api.get("/resource_providers?required=CUSTOM_B,CUSTOM_A")
    assert resp.status_code == 400
    assert _detail(resp).endswith('Invalid trait(s) in "required" parameter: No such trait(s): CUSTOM_A.  ')


def _inventory(api: httpx.Client, rp: str, invs: dict[str, dict[str, int]]) -> None:
    gen = _gen(api, rp)
    resp = api.put(
        f"/resource_providers/{rp}/inventories", json={"inventories": invs, "resource_provider_generation": gen}
    )
    assert resp.status_code == 200, resp.text


def test_several_consumers_are_checked_in_request_order_against_what_was_asked_so_far(api: httpx.Client) -> None:
    """Upstream reports the first allocation, in request order, that the amounts asked so far exceed."""
    a, b = _provider(api, "a"), _provider(api, "b")
    _inventory(api, a, {"VCPU": {"total": 4}})
    _inventory(api, b, {"MEMORY_MB": {"total": 1024}})
    c1, c2 = "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"
    owner = {"project_id": "p", "user_id": "u", "consumer_generation": None}
    body = {
        c1: {"allocations": {a: {"resources": {"VCPU": 1}}}, **owner},
        c2: {"allocations": {b: {"resources": {"MEMORY_MB": 1025}}, a: {"resources": {"VCPU": 4}}}, **owner},
    }
    resp = api.post("/allocations", json=body, headers={"openstack-api-version": "placement 1.28"})
    assert resp.status_code == 409, resp.text
    assert f"Unable to create allocation for 'MEMORY_MB' on resource provider '{b}'. The requested amount" in _detail(
        resp
    )


def test_emptied_consumers_allocations_take_part_in_the_inventory_check(api: httpx.Client) -> None:
    """Upstream deletes a consumer's allocations by writing them at amount 0: their classes
    are among those named when a provider has no inventory of any of them."""
    a, bare = _provider(api, "a"), _provider(api, "bare")
    _inventory(api, a, {"DISK_GB": {"total": 10}})
    c1, c2 = "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"
    v = {"openstack-api-version": "placement 1.28"}
    owner = {"project_id": "p", "user_id": "u"}
    resp = api.put(
        f"/allocations/{c1}",
        json={"allocations": {a: {"resources": {"DISK_GB": 1}}}, **owner, "consumer_generation": None},
        headers=v,
    )
    assert resp.status_code == 204, resp.text
    body = {
        c2: {"allocations": {bare: {"resources": {"VCPU": 1}}}, **owner, "consumer_generation": None},
        c1: {"allocations": {}, **owner, "consumer_generation": 1},
    }
    resp = api.post("/allocations", json=body, headers=v)
    assert resp.status_code == 409, resp.text
    assert f"Inventory for 'VCPU, DISK_GB' on resource provider '{bare}' invalid." in _detail(resp)


def test_update_provider_last_modified_is_the_time_of_the_previous_change(api: httpx.Client) -> None:
    """Upstream sends updated_at as read before the update; a root has one from its creation
    (the root id is written in a second step), a child only after a change."""
    root = _provider(api, "root")
    assert api.put(f"/resource_providers/{root}", json={"name": "r"}).headers["last-modified"].endswith("GMT")
    child = _provider(api, "child", parent_provider_uuid=root)
    first = api.put(f"/resource_providers/{child}", json={"name": "b", "parent_provider_uuid": root})
    assert first.status_code == 200
    assert "last-modified" not in first.headers
    assert first.headers["cache-control"] == "no-cache"
    second = api.put(f"/resource_providers/{child}", json={"name": "c", "parent_provider_uuid": root})
    assert second.headers["last-modified"].endswith("GMT")


def test_duplicate_uuid_and_name_names_the_uuid_only(api: httpx.Client) -> None:
    uuid = "44444444-4444-4444-8444-444444444444"
    _provider(api, "taken", uuid=uuid)
    resp = api.post("/resource_providers", json={"name": "taken", "uuid": uuid})
    assert resp.status_code == 409
    assert _detail(resp).endswith(f"Conflicting resource provider uuid: {uuid} already exists.  ")


def test_first_unknown_class_in_request_order_is_named(api: httpx.Client) -> None:
    a = _provider(api, "a")
    c1, c2 = "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"
    owner = {"project_id": "p", "user_id": "u", "consumer_generation": None}
    body = {
        c1: {"allocations": {a: {"resources": {"CUSTOM_SILVER": 1}}}, **owner},
        c2: {"allocations": {a: {"resources": {"CUSTOM_GOLD": 1}}}, **owner},
    }
    resp = api.post("/allocations", json=body, headers={"openstack-api-version": "placement 1.28"})
    assert resp.status_code == 400
    assert _detail(resp).endswith("Unable to allocate inventory No such resource class CUSTOM_SILVER.  ")


def test_updated_at_moves_only_on_rows_that_change(api: httpx.Client) -> None:
    """Seen through the Last-Modified of a child's first update: a no-op update leaves its
    updated_at unset; its root moving (an ancestor un-parented) sets it."""
    root = _provider(api, "root")
    mid = _provider(api, "mid", parent_provider_uuid=root)
    leaf = _provider(api, "leaf", parent_provider_uuid=mid)
    same = {"name": "leaf", "parent_provider_uuid": mid}
    assert api.put(f"/resource_providers/{leaf}", json=same).status_code == 200
    assert "last-modified" not in api.put(f"/resource_providers/{leaf}", json=same).headers
    assert api.put(f"/resource_providers/{mid}", json={"name": "mid", "parent_provider_uuid": None}).status_code == 200
    assert api.put(f"/resource_providers/{leaf}", json=same).headers["last-modified"].endswith("GMT")
