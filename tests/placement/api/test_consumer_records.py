"""Consumer records that outlive a write, as upstream's do: which writes leave a consumer at generation 0.

Upstream creates a consumer record before it writes allocations and removes it only when
the write fails after that point in the transaction, or when the consumer ends up holding
nothing after a write that touched its allocations. A consumer left so exists "with
generation 0": the next write must name 0, not null.
"""

from __future__ import annotations

import uuid

import httpx
import pytest

pytestmark = pytest.mark.usefixtures("store")

OWNER = {"project_id": "p", "user_id": "u", "consumer_type": "INSTANCE"}


@pytest.fixture
def rp(api: httpx.Client) -> str:
    uuid_ = str(uuid.uuid4())
    assert api.post("/resource_providers", json={"name": "rp", "uuid": uuid_}).status_code == 200
    put = api.put(
        f"/resource_providers/{uuid_}/inventories",
        json={"resource_provider_generation": 0, "inventories": {"VCPU": {"total": 4}}},
    )
    assert put.status_code == 200
    return uuid_


def claim(api: httpx.Client, consumer: str, allocs: dict[str, object], gen: int | None) -> httpx.Response:
    return api.put(f"/allocations/{consumer}", json={"allocations": allocs, "consumer_generation": gen, **OWNER})


def vcpu(rp: str, amount: int = 1) -> dict[str, object]:
    return {rp: {"resources": {"VCPU": amount}}}


def assert_left_at_generation_0(api: httpx.Client, consumer: str, rp: str) -> None:
    """The consumer exists with no allocations: null is refused, 0 is taken and becomes 1."""
    assert api.get(f"/allocations/{consumer}").json() == {"allocations": {}}
    refused = claim(api, consumer, vcpu(rp), None)
    assert refused.status_code == 409, refused.text
    assert "expected 0 but got None" in refused.json()["errors"][0]["detail"]
    assert refused.json()["errors"][0]["code"] == "placement.concurrent_update"
    taken = claim(api, consumer, vcpu(rp), 0)
    assert taken.status_code == 204, taken.text
    assert api.get(f"/allocations/{consumer}").json()["consumer_generation"] == 1


def assert_absent(api: httpx.Client, consumer: str, rp: str) -> None:
    resp = claim(api, consumer, vcpu(rp), None)
    assert resp.status_code == 204, resp.text


def test_empty_put_for_a_new_consumer_leaves_it_at_generation_0(api: httpx.Client, rp: str) -> None:
    consumer = str(uuid.uuid4())
    assert claim(api, consumer, {}, None).status_code == 204
    # Writing nothing again, naming 0, touches nothing: still 0.
    assert claim(api, consumer, {}, 0).status_code == 204
    assert_left_at_generation_0(api, consumer, rp)


def test_emptying_a_consumer_that_held_allocations_removes_it(api: httpx.Client, rp: str) -> None:
    consumer = str(uuid.uuid4())
    assert claim(api, consumer, vcpu(rp), None).status_code == 204
    assert claim(api, consumer, {}, 1).status_code == 204
    assert_absent(api, consumer, rp)


def test_delete_removes_the_consumer_and_a_left_consumer_is_not_deleted(api: httpx.Client, rp: str) -> None:
    held, left = str(uuid.uuid4()), str(uuid.uuid4())
    assert claim(api, held, vcpu(rp), None).status_code == 204
    assert api.delete(f"/allocations/{held}").status_code == 204
    assert_absent(api, held, rp)
    assert claim(api, left, {}, None).status_code == 204
    assert api.delete(f"/allocations/{left}").status_code == 404
    assert_left_at_generation_0(api, left, rp)


@pytest.mark.parametrize("version", ["1.28", "1.27", "1.12"])
def test_a_claim_on_a_missing_provider_leaves_the_new_consumer(api: httpx.Client, rp: str, version: str) -> None:
    consumer = str(uuid.uuid4())
    resp = api.put(
        f"/allocations/{consumer}",
        json={"allocations": vcpu(str(uuid.uuid4())), "consumer_generation": None, "project_id": "p", "user_id": "u"}
        if version == "1.28"
        else {"allocations": vcpu(str(uuid.uuid4())), "project_id": "p", "user_id": "u"},
        headers={"openstack-api-version": f"placement {version}"},
    )
    assert resp.status_code == 400 and "that does not exist" in resp.text
    assert_left_at_generation_0(api, consumer, rp)


def test_post_on_a_missing_provider_leaves_every_new_consumer(api: httpx.Client, rp: str) -> None:
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    resp = api.post(
        "/allocations",
        json={
            first: {"allocations": vcpu(rp), "consumer_generation": None, **OWNER},
            second: {"allocations": vcpu(str(uuid.uuid4())), "consumer_generation": None, **OWNER},
        },
    )
    assert resp.status_code == 400
    assert_left_at_generation_0(api, first, rp)
    assert_left_at_generation_0(api, second, rp)


@pytest.mark.parametrize(
    "resources", [{"VCPU": 100}, {"DISK_GB": 1}, {"CUSTOM_MISSING": 1}], ids=["over", "no-inventory", "no-class"]
)
def test_a_claim_refused_later_removes_the_new_consumer(api: httpx.Client, rp: str, resources: dict[str, int]) -> None:
    consumer = str(uuid.uuid4())
    resp = claim(api, consumer, {rp: {"resources": resources}}, None)
    assert resp.status_code in (400, 409), resp.text
    assert_absent(api, consumer, rp)


def test_post_with_empty_allocations(api: httpx.Client, rp: str) -> None:
    new, held = str(uuid.uuid4()), str(uuid.uuid4())
    assert claim(api, held, vcpu(rp), None).status_code == 204
    resp = api.post(
        "/allocations",
        json={
            new: {"allocations": {}, "consumer_generation": None, **OWNER},
            held: {"allocations": {}, "consumer_generation": 1, **OWNER},
        },
    )
    assert resp.status_code == 204, resp.text
    assert_left_at_generation_0(api, new, rp)
    assert_absent(api, held, rp)


def test_reshaper_leaves_new_consumers_with_nothing_to_hold(api: httpx.Client, rp: str) -> None:
    empty, missing = str(uuid.uuid4()), str(uuid.uuid4())
    gen = api.get(f"/resource_providers/{rp}").json()["generation"]
    inventories = {rp: {"resource_provider_generation": gen, "inventories": {"VCPU": {"total": 4}}}}
    allocs = {
        empty: {"allocations": {}, "consumer_generation": None, **OWNER},
    }
    assert api.post("/reshaper", json={"inventories": inventories, "allocations": allocs}).status_code == 204
    assert_left_at_generation_0(api, empty, rp)
    gen = api.get(f"/resource_providers/{rp}").json()["generation"]
    inventories[rp]["resource_provider_generation"] = gen
    allocs = {
        missing: {
            "allocations": vcpu(str(uuid.uuid4())), "consumer_generation": None, **OWNER
        },
    }
    resp = api.post("/reshaper", json={"inventories": inventories, "allocations": allocs})
    assert resp.status_code == 400 and "that does not exist" in resp.text
    assert_left_at_generation_0(api, missing, rp)


def test_only_touched_consumers_and_providers_advance(api: httpx.Client, rp: str) -> None:
    left = str(uuid.uuid4())
    assert claim(api, left, {}, None).status_code == 204
    before = api.get(f"/resource_providers/{rp}").json()["generation"]
    resp = api.post("/allocations", json={left: {"allocations": {}, "consumer_generation": 0, **OWNER}})
    assert resp.status_code == 204
    assert api.get(f"/resource_providers/{rp}").json()["generation"] == before
    assert_left_at_generation_0(api, left, rp)
