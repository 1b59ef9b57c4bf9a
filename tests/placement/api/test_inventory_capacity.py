"""Inventory capacity, ``int((total - reserved) * allocation_ratio)``: at least 1 before 1.26, at least 0 from it.

Checked before anything is written and before usage is compared with the new capacity,
so a bad ratio is a 400 about the inventory, never a 409 about allocations.
"""

from __future__ import annotations

import uuid

import httpx
import pytest

pytestmark = pytest.mark.usefixtures("store")

OLD = {"openstack-api-version": "placement 1.25"}


@pytest.fixture
def rp(api: httpx.Client) -> str:
    uuid_ = str(uuid.uuid4())
    assert api.post("/resource_providers", json={"name": "rp", "uuid": uuid_}).status_code == 200
    return uuid_


def refused(resp: httpx.Response, rp: str, action: str, rule: str) -> None:
    assert resp.status_code == 400, resp.text
    detail = resp.json()["errors"][0]["detail"]
    assert (
        f"Unable to {action} inventory for resource provider {rp}: Invalid inventory for 'VCPU' on resource "
        f"provider '{rp}'. The reserved value is {rule}." in detail
    )


@pytest.mark.parametrize(
    ("fields", "headers", "rule"),
    [
        ({"total": 1, "allocation_ratio": 0.5}, OLD, "greater than or equal to total"),
        ({"total": 10, "allocation_ratio": -0.5}, OLD, "greater than or equal to total"),
        ({"total": 10, "allocation_ratio": -0.5}, {}, "greater than total"),
        ({"total": 1, "allocation_ratio": -1}, {}, "greater than total"),
    ],
)
def test_capacity_below_the_floor_is_refused_on_every_route(
    api: httpx.Client, rp: str, fields: dict[str, float], headers: dict[str, str], rule: str
) -> None:
    url = f"/resource_providers/{rp}/inventories"
    refused(api.post(url, json={"resource_class": "VCPU", **fields}, headers=headers), rp, "create", rule)
    whole = {"resource_provider_generation": 0, "inventories": {"VCPU": fields}}
    refused(api.put(url, json=whole, headers=headers), rp, "update", rule)
    assert api.put(url, json={"resource_provider_generation": 0, "inventories": {"VCPU": {"total": 8}}}).status_code == 200
    refused(api.put(f"{url}/VCPU", json={"resource_provider_generation": 1, **fields}, headers=headers), rp, "update", rule)
    if not headers:  # the reshaper exists from 1.30 only
        inventories = {rp: {"resource_provider_generation": 1, "inventories": {"VCPU": fields}}}
        refused(api.post("/reshaper", json={"inventories": inventories, "allocations": {}}), rp, "update", rule)
    assert api.get(url).json()["inventories"]["VCPU"]["total"] == 8


def test_capacity_rounding_to_zero_is_accepted_from_1_26(api: httpx.Client, rp: str) -> None:
    url = f"/resource_providers/{rp}/inventories"
    resp = api.put(url, json={"resource_provider_generation": 0, "inventories": {"VCPU": {"total": 1, "allocation_ratio": 0.5}}})
    assert resp.status_code == 200, resp.text


def test_a_bad_ratio_on_an_inventory_in_use_is_a_400_not_a_409(api: httpx.Client, rp: str) -> None:
    url = f"/resource_providers/{rp}/inventories"
    api.put(url, json={"resource_provider_generation": 0, "inventories": {"VCPU": {"total": 8}}})
    consumer = str(uuid.uuid4())
    claim = api.put(
        f"/allocations/{consumer}",
        json={
            "allocations": {rp: {"resources": {"VCPU": 2}}},
            "consumer_generation": None,
            "project_id": "p",
            "user_id": "u",
            "consumer_type": "INSTANCE",
        },
    )
    assert claim.status_code == 204, claim.text
    bad = {"resource_provider_generation": 2, "inventories": {"VCPU": {"total": 8, "allocation_ratio": -1}}}
    refused(api.put(url, json=bad), rp, "update", "greater than total")
    refused(api.put(f"{url}/VCPU", json={"resource_provider_generation": 2, "total": 8, "allocation_ratio": -1}), rp,
            "update", "greater than total")


@pytest.mark.parametrize(
    "fields",
    [
        # Found by the fuzzer: the capacity overflowed to -inf, which int() refused with a 500.
        {"total": 36850, "allocation_ratio": -1.7976931348623157e308},
        # Capacity 0 passes the capacity check; MySQL's single-precision column refused the ratio with a 500.
        {"total": 5, "reserved": 5, "allocation_ratio": -3.5e38},
    ],
)
def test_a_ratio_beyond_the_float_range_is_a_400_on_every_route(
    api: httpx.Client, rp: str, fields: dict[str, float]
) -> None:
    def bad(resp: httpx.Response) -> None:
        assert resp.status_code == 400, resp.text
        assert "JSON does not validate" in resp.json()["errors"][0]["detail"]

    url = f"/resource_providers/{rp}/inventories"
    bad(api.post(url, json={"resource_class": "VCPU", **fields}))
    bad(api.put(url, json={"resource_provider_generation": 0, "inventories": {"VCPU": fields}}))
    assert api.put(url, json={"resource_provider_generation": 0, "inventories": {"VCPU": {"total": 8}}}).status_code == 200
    bad(api.put(f"{url}/VCPU", json={"resource_provider_generation": 1, **fields}))
    inventories = {rp: {"resource_provider_generation": 1, "inventories": {"VCPU": fields}}}
    bad(api.post("/reshaper", json={"inventories": inventories, "allocations": {}}))
    assert api.get(url).json()["inventories"] == {
        "VCPU": {"total": 8, "reserved": 0, "min_unit": 1, "max_unit": 2147483647, "step_size": 1,
                 "allocation_ratio": 1.0}}
