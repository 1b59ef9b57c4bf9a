"""What a claim costs the database: the statements of PUT /allocations for a new and an existing consumer.

The write path is the hot path of scheduling (every instance is one claim), so the
number of round trips it makes is part of its contract. The answers themselves are
checked by the generation, capacity and concurrency tests; these only pin the cost.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest

from allotment.infra.database import Database
from tests.sql_statements import recorded_statements

OWNER = {"project_id": "p", "user_id": "u", "consumer_type": "INSTANCE"}


@pytest.fixture
def rp(api: httpx.Client) -> str:
    uuid_ = str(uuid.uuid4())
    assert api.post("/resource_providers", json={"name": "rp", "uuid": uuid_}).status_code == 200
    put = api.put(
        f"/resource_providers/{uuid_}/inventories",
        json={"resource_provider_generation": 0,
              "inventories": {"VCPU": {"total": 64}, "MEMORY_MB": {"total": 65536}, "DISK_GB": {"total": 1000}}},
    )
    assert put.status_code == 200
    return uuid_


@pytest.fixture
def statements(store: Database) -> Iterator[list[str]]:
    with recorded_statements(store.engine) as seen:
        yield seen


def put(api: httpx.Client, consumer: str, rp: str, gen: int | None, vcpu: int = 1) -> None:
    body = {"allocations": {rp: {"resources": {"VCPU": vcpu, "MEMORY_MB": 256, "DISK_GB": 10}}},
            "consumer_generation": gen, **OWNER}
    r = api.put(f"/allocations/{consumer}", json=body)
    assert r.status_code == 204, r.text


def test_a_claim_for_a_new_consumer_takes_ten_statements(api: httpx.Client, rp: str, statements: list[str]) -> None:
    put(api, str(uuid.uuid4()), rp, None)  # creates the project, user and consumer type
    statements.clear()
    consumer = str(uuid.uuid4())
    put(api, consumer, rp, None)
    # BEGIN (SQLite only), owner ids, lock consumer, insert consumer, lock provider, class ids,
    # inventories with usage, insert allocations, change log, provider generation.
    work = [s for s in statements if not s.startswith("BEGIN")]
    assert len(work) <= 9, statements
    assert not any("SAVEPOINT" in s for s in work), statements
    got = api.get(f"/allocations/{consumer}").json()
    assert got["consumer_generation"] == 1
    assert got["allocations"][rp]["resources"] == {"VCPU": 1, "MEMORY_MB": 256, "DISK_GB": 10}


def test_rewriting_an_existing_consumer_keeps_its_checks(api: httpx.Client, rp: str) -> None:
    consumer = str(uuid.uuid4())
    put(api, consumer, rp, None, vcpu=60)
    put(api, consumer, rp, 1, vcpu=64)  # its own 60 do not count against it
    r = api.put(f"/allocations/{consumer}", json={
        "allocations": {rp: {"resources": {"VCPU": 65}}}, "consumer_generation": 2, **OWNER})
    assert r.status_code == 409 and "exceed the capacity" in r.text
    r = api.put(f"/allocations/{consumer}", json={
        "allocations": {rp: {"resources": {"VCPU": 1}}}, "consumer_generation": 1, **OWNER})
    assert r.status_code == 409 and r.json()["errors"][0]["code"] == "placement.concurrent_update"
    assert api.get(f"/allocations/{consumer}").json()["consumer_generation"] == 2
