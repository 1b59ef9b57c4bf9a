"""The direct (in-process) client and the HTTP client give the same answers."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from allotment.bench.databases import fresh_database
from allotment.bench.servers import allotment_server
from allotment.client import (
    Allocations,
    GenerationConflict,
    Inventory,
    InventoryInUse,
    NotFound,
    PlacementClient,
    connect,
    direct,
)
from tests.conftest import require_backend

NS = uuid.UUID("7b1c9a52-56a3-4c61-9a8f-c0ffee000000")


def uid(name: str) -> str:
    return str(uuid.uuid5(NS, name))


def scenario(c: PlacementClient) -> dict[str, Any]:
    """A compute node with a GPU child, a sharing disk pool, claims, a move and a reshape."""
    out: dict[str, Any] = {}
    cn = c.create_provider("cn1", uid("cn1"))
    gpu = c.create_provider("cn1-gpu", uid("gpu"), parent_uuid=cn.uuid)
    pool = c.create_provider("pool", uid("pool"))
    c.ensure_resource_class("CUSTOM_MAGIC")
    c.ensure_trait("CUSTOM_FAST")
    gen = c.set_inventories(cn.uuid, cn.generation, {"VCPU": Inventory(total=16, allocation_ratio=2.0),
                                                     "MEMORY_MB": Inventory(total=4096, min_unit=128)})
    gen = c.set_provider_traits(cn.uuid, gen, ["HW_CPU_X86_AVX2", "CUSTOM_FAST"])
    gen = c.set_aggregates(cn.uuid, gen, [uid("agg")])
    c.set_inventories(gpu.uuid, gpu.generation, {"VGPU": Inventory(total=4), "CUSTOM_MAGIC": Inventory(total=1)})
    pgen = c.set_inventories(pool.uuid, pool.generation, {"DISK_GB": Inventory(total=1000, reserved=100)})
    pgen = c.set_provider_traits(pool.uuid, pgen, ["MISC_SHARES_VIA_AGGREGATE"])
    c.set_aggregates(pool.uuid, pgen, [uid("agg")])
    claim = Allocations({cn.uuid: {"VCPU": 4, "MEMORY_MB": 1024}, gpu.uuid: {"VGPU": 1}, pool.uuid: {"DISK_GB": 50}},
                        "proj", "user", None, "INSTANCE")
    c.put_allocations(uid("vm1"), claim)
    out["vm1"] = c.get_allocations(uid("vm1"))
    # Move vm1's disk to a migration consumer atomically (what a migration does).
    current = c.get_allocations(uid("vm1"))
    c.post_allocations({
        uid("migration"): Allocations({pool.uuid: {"DISK_GB": 50}}, "proj", "user", None, "MIGRATION"),
        uid("vm1"): Allocations({cn.uuid: {"VCPU": 4, "MEMORY_MB": 1024}, gpu.uuid: {"VGPU": 1}}, "proj", "user",
                                current.consumer_generation, "INSTANCE"),
    })
    out["migration"] = c.get_allocations(uid("migration"))
    out["usages"] = {name: c.provider_usages(p.uuid) for name, p in (("cn", cn), ("gpu", gpu), ("pool", pool))}
    out["project_usages"] = c.usages("proj")
    out["providers"] = c.list_providers()
    out["in_tree"] = c.list_providers(in_tree=cn.uuid)
    out["with_avx2"] = c.list_providers(required="HW_CPU_X86_AVX2")
    out["traits"] = c.get_provider_traits(cn.uuid)
    out["aggregates"] = c.get_aggregates(pool.uuid)
    out["custom_classes"] = [rc for rc in c.list_resource_classes() if rc.startswith("CUSTOM_")]
    out["inventories"] = c.get_inventories(gpu.uuid)
    cands = c.allocation_candidates({"resources": "VCPU:1,DISK_GB:10"})
    out["candidates"] = sorted(
        tuple(sorted((rp, tuple(sorted(v["resources"].items()))) for rp, v in ar["allocations"].items()))
        for ar in cands["allocation_requests"]
    )
    # Typed errors.
    with pytest.raises(GenerationConflict) as stale:
        c.set_inventories(cn.uuid, 0, {"VCPU": Inventory(total=1)})
    out["stale_code"] = stale.value.code
    with pytest.raises(InventoryInUse):
        c.delete_inventories(gpu.uuid)
    with pytest.raises(NotFound):
        c.get_provider(uid("nope"))
    c.delete_allocations(uid("migration"))
    out["after_delete"] = c.provider_usages(pool.uuid)
    return out


@pytest.fixture(params=["sqlite", "postgresql"])
def db_urls(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    require_backend(request.param)
    with fresh_database(request.param) as a, fresh_database(request.param) as b:
        yield a, b


def test_direct_and_http_give_identical_results(db_urls: tuple[str, str]) -> None:
    direct_url, http_url = db_urls
    with direct(direct_url) as c:
        via_direct = scenario(c)
    with allotment_server(http_url) as server, connect(server.url) as c:
        via_http = scenario(c)
    assert via_direct == via_http
    # And the scenario really did what it says.
    assert via_direct["usages"]["pool"] == {"DISK_GB": 50}  # now held by the migration
    assert via_direct["migration"].allocations == {uid("pool"): {"DISK_GB": 50}}
    assert via_direct["after_delete"] == {"DISK_GB": 0}
    assert via_direct["stale_code"] == "placement.concurrent_update"
    assert {p.name for p in via_direct["in_tree"]} == {"cn1", "cn1-gpu"}
    assert via_direct["candidates"], "the sharing pool and the compute node make at least one candidate"


def test_direct_client_runs_the_real_app(tmp_path: Any) -> None:
    """Validation and microversions are the server's: a bad body is a typed 400, old versions 404."""
    from allotment.client import BadRequest

    with direct(f"sqlite:///{tmp_path}/p.sqlite") as c:
        with pytest.raises(BadRequest) as bad:
            c.request("POST", "/resource_providers", json={"name": 7})
        assert "JSON does not validate" in bad.value.detail
        with pytest.raises(NotFound):
            c.request("GET", "/traits", microversion="1.5")


def test_connect_skips_the_cookie_jar_only_for_answers_without_cookies() -> None:
    """The HTTP client hands only answers with Set-Cookie to the jar (a fifth of its CPU per call otherwise)."""
    from allotment.client.client import _Cookies, _skip_cookie_parsing, connect

    with connect("http://127.0.0.1:9") as client:  # nothing is sent
        assert isinstance(client.http.cookies, _Cookies)

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/sets":
            return httpx.Response(200, headers={"set-cookie": "session=abc; Path=/"}, json={})
        return httpx.Response(200, json={})

    http = _skip_cookie_parsing(httpx.Client(base_url="http://placement.test", transport=httpx.MockTransport(answer)))
    with http:
        http.get("/plain")
        assert dict(http.cookies) == {}
        http.get("/sets")
        assert dict(http.cookies) == {"session": "abc"}
        assert http.get("/plain").request.headers.get("cookie") == "session=abc"
