"""The scheduler registry's REST API in-process (Falcon app through httpx's WSGITransport), on every backend."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from allotment.scheduler.api.app import create_app
from allotment.scheduler.registry import Registry
from tests.scheduler.registry.conftest import new_uuid


@pytest.fixture
def api(registry: Registry) -> Iterator[httpx.Client]:
    with httpx.Client(transport=httpx.WSGITransport(app=create_app(registry)), base_url="http://sched") as client:
        yield client


def _error(resp: httpx.Response, status: int, code: str, fragment: str = "") -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    (err,) = resp.json()["errors"]
    assert err["status"] == status and err["code"] == code and err["title"]
    assert fragment in err["detail"], err["detail"]
    assert err["request_id"] == resp.headers["x-openstack-request-id"]
    return err  # type: ignore[no-any-return]


def _host(api: httpx.Client, name: str = "c1", **facts: Any) -> str:
    rp = new_uuid()
    r = api.put(f"/hosts/{name}", json={"provider_uuid": rp, **facts})
    assert r.status_code == 201, r.text
    return rp


# ---- hosts ---------------------------------------------------------------------------------


def test_host_lifecycle(api: httpx.Client) -> None:
    rp = new_uuid()
    r = api.put("/hosts/c1", json={"provider_uuid": rp, "hypervisor_type": "QEMU", "cell": "cell1",
                                   "supported_instances": [["x86_64", "qemu", "hvm"]]})
    assert r.status_code == 201 and r.headers["location"] == "/hosts/c1"
    body = r.json()
    assert body["provider_uuid"] == rp and body["up"] is True and body["supported_instances"] == [
        ["x86_64", "qemu", "hvm"]]
    assert body["last_heartbeat"].endswith("Z")
    r = api.put("/hosts/c1", json={"provider_uuid": rp, "hypervisor_version": 7})
    assert r.status_code == 200 and r.json()["hypervisor_type"] == "QEMU" and r.json()["hypervisor_version"] == 7
    _host(api, "c2", cell="cell2")
    assert [h["name"] for h in api.get("/hosts").json()["hosts"]] == ["c1", "c2"]
    assert [h["name"] for h in api.get("/hosts", params={"cell": "cell2"}).json()["hosts"]] == ["c2"]
    assert api.post("/hosts/c1/heartbeat").status_code == 204
    r = api.put("/hosts/c1/status", json={"disabled": True, "disabled_reason": "disk swap"})
    assert r.status_code == 200 and r.json()["disabled"] and r.json()["disabled_reason"] == "disk swap"
    r = api.put("/hosts/c1/status", json={"forced_down": True})
    assert r.json()["up"] is False and r.json()["disabled"] is True
    assert api.delete("/hosts/c1").status_code == 204
    _error(api.get("/hosts/c1"), 404, "scheduler.host.not_found", "'c1'")
    _error(api.post("/hosts/c1/heartbeat"), 404, "scheduler.host.not_found")


def test_host_name_with_dots_and_escapes(api: httpx.Client) -> None:
    _host(api, "compute-1.rack2.example.org")
    assert api.get("/hosts/compute-1.rack2.example.org").json()["name"] == "compute-1.rack2.example.org"
    _error(api.put("/hosts/bad%00name", json={"provider_uuid": new_uuid()}), 400, "scheduler.bad_request", "host name")
    # WSGI hands the app a decoded path: an escaped slash is a path separator, so no such route.
    _error(api.put("/hosts/bad%2Fname", json={"provider_uuid": new_uuid()}), 404, "scheduler.not_found")
    assert [h["name"] for h in api.get("/hosts").json()["hosts"]] == ["compute-1.rack2.example.org"]


def test_provider_in_use_is_a_conflict(api: httpx.Client) -> None:
    rp = _host(api, "c1")
    _error(api.put("/hosts/c2", json={"provider_uuid": rp}), 409, "scheduler.host.provider_in_use", "'c1'")


@pytest.mark.parametrize("content, headers, status, code, fragment", [
    (b"", {}, 400, "scheduler.bad_request", "body is required"),
    (b"{not json", {"content-type": "application/json"}, 400, "scheduler.bad_request", "malformed JSON"),
    (b"[1, 2]", {"content-type": "application/json"}, 400, "scheduler.bad_request", "is not of type 'object'"),
    (b'{"cell": "x"}', {"content-type": "application/json"}, 400, "scheduler.bad_request", "provider_uuid"),
    (b'{"provider_uuid": "nope"}', {}, 400, "scheduler.bad_request", "provider uuid 'nope' is not a valid UUID"),
    (b'{"provider_uuid": "%s", "colour": "red"}', {}, 400, "scheduler.bad_request", "colour"),
    (b'{"provider_uuid": "%s", "stats": {"a": 1}}', {}, 400, "scheduler.bad_request", "at 'stats.a'"),
    (b'{"provider_uuid": "%s", "failed_builds": -1}', {}, 400, "scheduler.bad_request", "failed_builds"),
    (b'{"provider_uuid": "%s", "failed_builds": true}', {}, 400, "scheduler.bad_request", "failed_builds"),
    (b'{"provider_uuid": "%s", "failed_builds": 1.5}', {}, 400, "scheduler.bad_request", "failed_builds"),
    (b'{"provider_uuid": "%s", "hypervisor_version": 99999999999999999999999}', {}, 400, "scheduler.bad_request",
     "hypervisor_version"),
    (b'{"provider_uuid": "%s", "cell": "a\\u0000b"}', {}, 400, "scheduler.bad_request", "NUL"),
    (b'{"provider_uuid": "%s", "cpu_info": {"k\\u0000": 1}}', {}, 400, "scheduler.bad_request", "NUL"),
    (b'{"provider_uuid": "%s", "cell": "\\ud800"}', {}, 400, "scheduler.bad_request", "malformed JSON"),
    (b'{"provider_uuid": "%s", "cpu_info": {"x": NaN}}', {}, 400, "scheduler.bad_request", "malformed JSON"),
    (b'{"provider_uuid": "%s", "cpu_info": ' + b"[" * 2000 + b"]" * 2000 + b"}", {}, 400, "scheduler.bad_request",
     "malformed JSON"),
    (b'{"provider_uuid": "%s", "supported_instances": [["x86_64", "qemu"]]}', {}, 400, "scheduler.bad_request",
     "supported_instances"),
    (b'{"provider_uuid": "%s"}', {"content-type": "text/plain"}, 415, "scheduler.unsupported_media_type", "JSON"),
    (b'{"provider_uuid": "%s", "cell": "' + b"x" * (1 << 20) + b'"}', {}, 413, "scheduler.body_too_large", "larger"),
])
def test_bad_host_bodies_are_4xx_and_write_nothing(api: httpx.Client, content: bytes, headers: dict[str, str],
                                                    status: int, code: str, fragment: str) -> None:
    if b"%s" in content:
        content = content.replace(b"%s", new_uuid().encode(), 1)
    _error(api.put("/hosts/c1", content=content, headers=headers), status, code, fragment)
    assert api.get("/hosts").json()["hosts"] == []


@pytest.mark.parametrize("body, fragment", [
    ({}, "non-empty"),
    ({"disabled": "yes"}, "disabled"),
    ({"disabled": False, "disabled_reason": "x"}, "enabling"),
    ({"forced_down": True, "extra": 1}, "extra"),
])
def test_bad_status_bodies(api: httpx.Client, body: dict[str, Any], fragment: str) -> None:
    _host(api)
    _error(api.put("/hosts/c1/status", json=body), 400, "scheduler.bad_request", fragment)
    host = api.get("/hosts/c1").json()
    assert not host["disabled"] and not host["forced_down"]


def test_routing_errors(api: httpx.Client) -> None:
    _error(api.get("/nowhere"), 404, "scheduler.not_found", "/nowhere")
    r = api.patch("/hosts/c1", json={})
    _error(r, 405, "scheduler.method_not_allowed", "PATCH")
    assert "PUT" in r.headers["allow"]
    root = api.get("/").json()
    assert "/hosts/{name}" in root["routes"] and "/server_groups/{uuid}/members/{instance}" in root["routes"]


# ---- aggregates ----------------------------------------------------------------------------


def test_aggregate_lifecycle(api: httpx.Client) -> None:
    _host(api, "c1")
    agg_uuid = new_uuid()
    r = api.post("/aggregates", json={"name": "rack1", "uuid": agg_uuid, "metadata": {"availability_zone": "az1"}})
    assert r.status_code == 201 and r.headers["location"] == f"/aggregates/{agg_uuid}"
    assert r.json()["metadata"] == {"availability_zone": "az1"}
    _error(api.post("/aggregates", json={"name": "rack1"}), 409, "scheduler.aggregate.duplicate_name")
    assert api.put(f"/aggregates/{agg_uuid}", json={"name": "rack-one"}).json()["name"] == "rack-one"
    r = api.post(f"/aggregates/{agg_uuid}/metadata", json={"metadata": {"ssd": "true", "availability_zone": None}})
    assert r.json()["metadata"] == {"ssd": "true"}
    assert api.put(f"/aggregates/{agg_uuid}/hosts/c1").json()["hosts"] == ["c1"]
    _error(api.put(f"/aggregates/{agg_uuid}/hosts/c1"), 409, "scheduler.aggregate.host_exists")
    _error(api.put(f"/aggregates/{agg_uuid}/hosts/ghost"), 404, "scheduler.host.not_found")
    assert api.get("/hosts/c1").json()["aggregates"] == [agg_uuid]
    _error(api.delete(f"/aggregates/{agg_uuid}"), 409, "scheduler.aggregate.not_empty")
    assert api.delete(f"/aggregates/{agg_uuid}/hosts/c1").json()["hosts"] == []
    assert [a["name"] for a in api.get("/aggregates").json()["aggregates"]] == ["rack-one"]
    assert api.delete(f"/aggregates/{agg_uuid}").status_code == 204
    _error(api.get(f"/aggregates/{agg_uuid}"), 404, "scheduler.aggregate.not_found")


@pytest.mark.parametrize("method, path, body, fragment", [
    ("POST", "/aggregates", {}, "name"),
    ("POST", "/aggregates", {"name": ""}, "name"),
    ("POST", "/aggregates", {"name": "a", "uuid": "x"}, "uuid"),
    ("POST", "/aggregates", {"name": "a", "metadata": {"k": 1}}, "metadata.k"),
    ("POST", "/aggregates", {"name": "a", "metadata": {"k": "v\n"}}, "metadata value"),
    ("POST", "/aggregates/{agg}/metadata", {"metadata": {}}, "metadata"),
    ("POST", "/aggregates/{agg}/metadata", {"ssd": "true"}, "metadata"),
    ("PUT", "/aggregates/{agg}", {"name": None}, "name"),
    ("GET", "/aggregates/not-a-uuid", None, "not a valid UUID"),
])
def test_bad_aggregate_requests(api: httpx.Client, method: str, path: str, body: Any, fragment: str) -> None:
    agg = api.post("/aggregates", json={"name": "existing"}).json()
    resp = api.request(method, path.format(agg=agg["uuid"]), json=body)
    _error(resp, 400, "scheduler.bad_request", fragment)
    assert [(a["name"], a["metadata"]) for a in api.get("/aggregates").json()["aggregates"]] == [("existing", {})]


# ---- server groups and instances -----------------------------------------------------------


def test_server_group_members_and_the_policy(api: httpx.Client) -> None:
    _host(api, "c1")
    _host(api, "c2")
    r = api.post("/server_groups", json={"name": "web", "policy": "anti-affinity", "rules": {"max_server_per_host": 1},
                                         "project_id": "p1"})
    assert r.status_code == 201
    g = r.json()["uuid"]
    a, b = new_uuid(), new_uuid()
    assert api.put(f"/server_groups/{g}/members/{a}", json={"host": "c1"}).json()["members"] == {a: "c1"}
    _error(api.put(f"/server_groups/{g}/members/{b}", json={"host": "c1"}), 409,
           "scheduler.server_group.policy_violation", "'c1'")
    body = api.put(f"/server_groups/{g}/members/{b}", json={"host": "c2"}).json()
    assert body["members"] == {a: "c1", b: "c2"} and body["hosts"] == ["c1", "c2"]
    assert [x["uuid"] for x in api.get("/server_groups", params={"project_id": "p1"}).json()["server_groups"]] == [g]
    assert api.get("/server_groups", params={"project_id": "p2"}).json()["server_groups"] == []
    assert api.delete(f"/server_groups/{g}/members/{a}").status_code == 204
    assert api.get(f"/server_groups/{g}").json()["members"] == {b: "c2"}
    assert api.delete(f"/server_groups/{g}").status_code == 204
    _error(api.get(f"/server_groups/{g}"), 404, "scheduler.server_group.not_found")


@pytest.mark.parametrize("body, fragment", [
    ({"name": "g"}, "policy"),
    ({"name": "g", "policy": "spread"}, "policy"),
    ({"name": "g", "policy": "affinity", "rules": {"max_server_per_host": 2}}, "anti-affinity"),
    ({"name": "g", "policy": "anti-affinity", "rules": {"max_server_per_host": 0}}, "max_server_per_host"),
    ({"name": "g", "policy": "anti-affinity", "rules": {"other": 1}}, "other"),
])
def test_bad_server_groups(api: httpx.Client, body: dict[str, Any], fragment: str) -> None:
    _error(api.post("/server_groups", json=body), 400, "scheduler.bad_request", fragment)
    assert api.get("/server_groups").json()["server_groups"] == []


def test_instances(api: httpx.Client) -> None:
    _host(api, "c1")
    _host(api, "c2")
    inst = new_uuid()
    r = api.put(f"/instances/{inst}", json={"host": "c1", "flavor_name": "m1.small", "vcpus": 1, "memory_mb": 512,
                                            "task_state": "spawning"})
    assert r.status_code == 201 and r.json()["host"] == "c1"
    r = api.put(f"/instances/{inst}", json={"task_state": None, "host": "c2"})
    assert r.status_code == 200 and r.json()["host"] == "c2" and r.json()["task_state"] is None
    assert r.json()["flavor_name"] == "m1.small"
    assert [i["uuid"] for i in api.get("/instances", params={"host": "c2"}).json()["instances"]] == [inst]
    _error(api.delete("/hosts/c2"), 409, "scheduler.host.in_use")
    assert api.delete(f"/instances/{inst}").status_code == 204
    _error(api.get(f"/instances/{inst}"), 404, "scheduler.instance.not_found")
    _error(api.put(f"/instances/{new_uuid()}", json={"vcpus": 1}), 400, "scheduler.bad_request", "host is required")
    _error(api.put(f"/instances/{new_uuid()}", json={"host": "ghost"}), 404, "scheduler.host.not_found")
    _error(api.put("/instances/123", json={"host": "c1"}), 400, "scheduler.bad_request", "UUID")
    _error(api.put(f"/instances/{new_uuid()}", json={"host": "c1", "vcpus": -2}), 400, "scheduler.bad_request",
           "vcpus")
    assert api.get("/instances").json()["instances"] == []


# ---- the app's extension point and its last-resort error ------------------------------------


class _Echo:
    def on_post(self, req: Any, resp: Any) -> None:
        from allotment.scheduler.api.media import read_json, write_json

        write_json(resp, {"echo": read_json(req, {"type": "object"})})


class _Broken:
    def on_get(self, req: Any, resp: Any) -> None:
        raise RuntimeError("bug")


def test_extra_routes_and_unexpected_errors(registry: Registry) -> None:
    app = create_app(registry, extra_routes=[("/select_destinations", _Echo()), ("/broken", _Broken())])
    with httpx.Client(transport=httpx.WSGITransport(app=app), base_url="http://sched") as api:
        assert api.post("/select_destinations", json={"a": 1}).json() == {"echo": {"a": 1}}
        assert "/select_destinations" in api.get("/").json()["routes"]
        _error(api.get("/broken"), 500, "scheduler.internal_error", "internal error")
