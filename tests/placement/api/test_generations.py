"""When a write advances a provider's generation, and when it leaves it alone: upstream's rule per route.

Upstream bumps on every inventory write and on every aggregate PUT from 1.19, even when nothing
changes; it leaves the generation alone on a provider update and on a traits PUT or DELETE that
changes nothing.
"""

from __future__ import annotations

import uuid

import httpx
import pytest

pytestmark = pytest.mark.usefixtures("store")


def provider(api: httpx.Client, name: str = "rp") -> str:
    rp = str(uuid.uuid4())
    assert api.post("/resource_providers", json={"name": name, "uuid": rp}).status_code == 200
    return rp


def generation(api: httpx.Client, rp: str) -> int:
    return int(api.get(f"/resource_providers/{rp}").json()["generation"])


def test_traits_put_with_the_same_set_keeps_the_generation(api: httpx.Client) -> None:
    rp = provider(api)
    url = f"/resource_providers/{rp}/traits"
    same_empty = api.put(url, json={"traits": [], "resource_provider_generation": 0})
    assert same_empty.status_code == 200 and same_empty.json()["resource_provider_generation"] == 0
    assert generation(api, rp) == 0
    changed = api.put(url, json={"traits": ["HW_CPU_X86_AVX"], "resource_provider_generation": 0})
    assert changed.json()["resource_provider_generation"] == 1
    same = api.put(url, json={"traits": ["HW_CPU_X86_AVX"], "resource_provider_generation": 1})
    assert same.status_code == 200 and same.json()["resource_provider_generation"] == 1
    assert generation(api, rp) == 1


def test_traits_delete_bumps_only_when_there_were_traits(api: httpx.Client) -> None:
    rp = provider(api)
    url = f"/resource_providers/{rp}/traits"
    assert api.delete(url).status_code == 204
    assert generation(api, rp) == 0
    api.put(url, json={"traits": ["HW_CPU_X86_AVX"], "resource_provider_generation": 0})
    assert api.delete(url).status_code == 204
    assert generation(api, rp) == 2


def test_aggregates_put_bumps_even_unchanged_from_1_19_and_never_before(api: httpx.Client) -> None:
    rp = provider(api)
    url = f"/resource_providers/{rp}/aggregates"
    resp = api.put(url, json={"aggregates": [], "resource_provider_generation": 0})
    assert resp.status_code == 200 and resp.json()["resource_provider_generation"] == 1
    old = api.put(url, json=[], headers={"openstack-api-version": "placement 1.18"})
    assert old.status_code == 200
    assert generation(api, rp) == 1


def test_every_inventory_write_bumps_even_when_nothing_changes(api: httpx.Client) -> None:
    rp = provider(api)
    url = f"/resource_providers/{rp}/inventories"
    assert api.delete(url).status_code == 204  # nothing to delete
    assert generation(api, rp) == 1
    assert api.put(url, json={"inventories": {}, "resource_provider_generation": 1}).status_code == 200
    assert generation(api, rp) == 2
    body = {"inventories": {"VCPU": {"total": 8}}, "resource_provider_generation": 2}
    assert api.put(url, json=body).json()["resource_provider_generation"] == 3
    body["resource_provider_generation"] = 3
    assert api.put(url, json=body).json()["resource_provider_generation"] == 4
    one = api.put(f"{url}/VCPU", json={"total": 8, "resource_provider_generation": 4})
    assert one.status_code == 200 and one.json()["resource_provider_generation"] == 5
    assert api.post(url, json={"resource_class": "DISK_GB", "total": 10}).json()["resource_provider_generation"] == 6
    assert api.delete(f"{url}/DISK_GB").status_code == 204
    assert generation(api, rp) == 7


def test_provider_update_never_bumps(api: httpx.Client) -> None:
    rp = provider(api, "same")
    assert api.put(f"/resource_providers/{rp}", json={"name": "same"}).json()["generation"] == 0
    assert api.put(f"/resource_providers/{rp}", json={"name": "other"}).json()["generation"] == 0
    assert generation(api, rp) == 0


OWNER = {"project_id": "p", "user_id": "u", "consumer_type": "INSTANCE"}


def inventory(api: httpx.Client, rp: str, inventories: dict[str, object]) -> None:
    gen = generation(api, rp)
    body = {"resource_provider_generation": gen, "inventories": inventories}
    assert api.put(f"/resource_providers/{rp}/inventories", json=body).status_code == 200


def test_allocation_writes_bump_the_providers_named_and_those_emptied(api: httpx.Client) -> None:
    a, b = provider(api, "a"), provider(api, "b")
    inventory(api, a, {"VCPU": {"total": 8}})
    inventory(api, b, {"VCPU": {"total": 8}})
    consumer = str(uuid.uuid4())
    url = f"/allocations/{consumer}"
    put = {"allocations": {a: {"resources": {"VCPU": 1}}}, "consumer_generation": None, **OWNER}
    assert api.put(url, json=put).status_code == 204
    assert (generation(api, a), generation(api, b)) == (2, 1)
    # Moving to b: b is named and bumps; a merely loses usage and keeps its generation.
    moved = {consumer: {"allocations": {b: {"resources": {"VCPU": 1}}}, "consumer_generation": 1, **OWNER}}
    assert api.post("/allocations", json=moved).status_code == 204
    assert (generation(api, a), generation(api, b)) == (2, 2)
    # Emptying bumps the providers the consumer held.
    emptied = {"allocations": {}, "consumer_generation": 2, **OWNER}
    assert api.put(url, json=emptied).status_code == 204
    assert (generation(api, a), generation(api, b)) == (2, 3)
    # DELETE bumps nothing.
    assert api.put(url, json=put).status_code == 204
    assert api.delete(url).status_code == 204
    assert (generation(api, a), generation(api, b)) == (3, 3)


def test_reshaper_bumps_for_interim_allocations_and_final_inventory(api: httpx.Client) -> None:
    a, b = provider(api, "a"), provider(api, "b")
    inventory(api, a, {"VCPU": {"total": 8}, "DISK_GB": {"total": 100}})
    consumer = str(uuid.uuid4())
    claim = {"allocations": {a: {"resources": {"VCPU": 1, "DISK_GB": 10}}}, "consumer_generation": None, **OWNER}
    assert api.put(f"/allocations/{consumer}", json=claim).status_code == 204
    assert (generation(api, a), generation(api, b)) == (2, 0)
    body = {
        "inventories": {
            a: {"resource_provider_generation": 2, "inventories": {"VCPU": {"total": 8}}},
            b: {"resource_provider_generation": 0, "inventories": {"DISK_GB": {"total": 100}}},
        },
        "allocations": {
            consumer: {
                "allocations": {a: {"resources": {"VCPU": 1}}, b: {"resources": {"DISK_GB": 10}}},
                "consumer_generation": 1,
                **OWNER,
            }
        },
    }
    assert api.post("/reshaper", json=body).status_code == 204
    # Each: interim inventory, allocations, final inventory.
    assert (generation(api, a), generation(api, b)) == (5, 3)
    assert api.get(f"/allocations/{consumer}").json()["consumer_generation"] == 2
    # Inventories alone, even unchanged: the interim and the final replacement bump each provider.
    empty = {"inventories": {a: {"resource_provider_generation": 5, "inventories": {"VCPU": {"total": 8}}},
                             b: {"resource_provider_generation": 3, "inventories": {"DISK_GB": {"total": 100}}}},
             "allocations": {}}
    assert api.post("/reshaper", json=empty).status_code == 204
    assert (generation(api, a), generation(api, b)) == (7, 5)
