"""GET /provider_graph, allotment's extension route: every provider's inventories (with every capacity
rule), usages, traits, aggregates and tree links in one answer, from the read model; admin only."""

from __future__ import annotations

import uuid

import httpx
import pytest

pytestmark = pytest.mark.usefixtures("store")

MEMBER = {"x-auth-token": "bob:bob", "x-roles": "member"}


def test_graph_holds_every_provider_with_its_rules_usage_traits_and_links(api: httpx.Client) -> None:
    root, child, agg, consumer = (str(uuid.uuid4()) for _ in range(4))
    assert api.post("/resource_providers", json={"name": "cn", "uuid": root}).status_code == 200
    assert api.post("/resource_providers", json={"name": "numa", "uuid": child,
                                                 "parent_provider_uuid": root}).status_code == 200
    inventory = {"total": 64, "reserved": 4, "min_unit": 2, "max_unit": 16, "step_size": 2, "allocation_ratio": 1.5}
    assert api.put(f"/resource_providers/{child}/inventories", json={
        "resource_provider_generation": 0, "inventories": {"VCPU": inventory}}).status_code == 200
    assert api.put(f"/resource_providers/{root}/traits", json={
        "resource_provider_generation": 0, "traits": ["HW_CPU_X86_AVX2"]}).status_code == 200
    assert api.put(f"/resource_providers/{root}/aggregates", json={
        "resource_provider_generation": 1, "aggregates": [agg]}).status_code == 200
    assert api.put(f"/allocations/{consumer}", json={
        "allocations": {child: {"resources": {"VCPU": 4}}}, "project_id": "p", "user_id": "u",
        "consumer_generation": None, "consumer_type": "INSTANCE"}).status_code == 204

    resp = api.get("/provider_graph")
    assert resp.status_code == 200, resp.text
    graph = {p["uuid"]: p for p in resp.json()["providers"]}
    assert graph[child] == {"uuid": child, "generation": 2, "parent_provider_uuid": root,
                            "root_provider_uuid": root, "inventories": {"VCPU": [64, 4, 2, 16, 2, 1.5]},
                            "usages": {"VCPU": 4}, "traits": [], "aggregates": []}
    assert graph[root]["traits"] == ["HW_CPU_X86_AVX2"] and graph[root]["aggregates"] == [agg]
    assert graph[root]["parent_provider_uuid"] is None and graph[root]["inventories"] == {}

    # A later write is seen (the read model refreshes before answering).
    assert api.delete(f"/allocations/{consumer}").status_code == 204
    after = {p["uuid"]: p for p in api.get("/provider_graph").json()["providers"]}
    assert after[child]["usages"] == {}


def test_graph_is_for_admins_and_services_only(api: httpx.Client) -> None:
    resp = api.get("/provider_graph", headers=MEMBER)
    assert resp.status_code == 403
    assert resp.json()["errors"][0]["code"] == "placement.undefined_code"


def test_since_a_token_answers_only_what_changed_and_what_was_removed(api: httpx.Client) -> None:
    a, b, c, consumer = (str(uuid.uuid4()) for _ in range(4))
    for name, rp in (("a", a), ("b", b)):
        assert api.post("/resource_providers", json={"name": name, "uuid": rp}).status_code == 200
        assert api.put(f"/resource_providers/{rp}/inventories", json={
            "resource_provider_generation": 0, "inventories": {"VCPU": {"total": 8}}}).status_code == 200
    first = api.get("/provider_graph").json()
    assert "since" not in first and {p["uuid"] for p in first["providers"]} == {a, b}

    # Nothing changed: nothing to send, and the token still names the graph.
    same = api.get("/provider_graph", params={"since": first["token"]}).json()
    assert same == {"token": first["token"], "since": first["token"], "removed": [], "providers": []}

    assert api.put(f"/allocations/{consumer}", json={
        "allocations": {a: {"resources": {"VCPU": 2}}}, "project_id": "p", "user_id": "u",
        "consumer_generation": None, "consumer_type": "INSTANCE"}).status_code == 204
    assert api.delete(f"/resource_providers/{b}").status_code == 204
    assert api.post("/resource_providers", json={"name": "c", "uuid": c}).status_code == 200
    delta = api.get("/provider_graph", params={"since": first["token"]}).json()
    assert delta["since"] == first["token"] and delta["token"] != first["token"]
    assert delta["removed"] == [b]
    changed = {p["uuid"]: p for p in delta["providers"]}
    assert set(changed) == {a, c} and changed[a]["usages"] == {"VCPU": 2}
    whole = {p["uuid"]: p for p in api.get("/provider_graph").json()["providers"]}
    assert changed == whole  # each entry as the whole graph shows it

    # The answer's token works in turn; a token the worker does not know gets the whole graph.
    assert api.get("/provider_graph", params={"since": delta["token"]}).json()["providers"] == []
    unknown = api.get("/provider_graph", params={"since": "not-a-token"}).json()
    assert "since" not in unknown and "removed" not in unknown
    assert {p["uuid"] for p in unknown["providers"]} == {a, c}
