"""Limits at the door, over real HTTP against ``allotment serve`` and ``allotment scheduler serve``.

A body over the limit is refused with 413 before it is read (announced by Content-Length: the answer comes
with most of the body never sent; chunked: as soon as the limit is passed), writes nothing, and uses each
service's error envelope. Request lines up to 8190 bytes pass (a Nova query with ~150 aggregates is 6 KB).
Every limit follows the config file, and the command line wins over the file.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest

from allotment.bench.servers import RunningServer, allotment_server, scheduler_server
from allotment.infra.limits import DEFAULT_MAX_REQUEST_BODY_SIZE
from tests.deployment._http import chunks, exchange

ADMIN = {"x-auth-token": "admin", "openstack-api-version": "placement latest"}
HEAD = "x-auth-token: admin\r\nopenstack-api-version: placement latest\r\ncontent-type: application/json"
MB60 = 60 << 20


@pytest.fixture(scope="module")
def placement() -> Iterator[RunningServer]:
    with allotment_server(workers=1) as server:
        yield server


@pytest.fixture(scope="module")
def scheduler() -> Iterator[RunningServer]:
    with scheduler_server(workers=1) as server:
        yield server


def _providers(url: str) -> list[str]:
    r = httpx.get(url + "/resource_providers", headers=ADMIN)
    assert r.status_code == 200, r.text
    return [p["name"] for p in r.json()["resource_providers"]]


def _too_large(error: dict[str, object], code: str) -> None:
    assert error["status"] == 413 and error["code"] == code, error
    assert str(error["request_id"]).startswith("req-"), error


def test_a_60_mb_body_is_413_with_placements_envelope_and_writes_nothing(placement: RunningServer) -> None:
    body = b'{"name": "' + b"x" * MB60 + b'"}'
    r = httpx.post(placement.url + "/resource_providers", content=body, timeout=60,
                   headers={**ADMIN, "content-type": "application/json"})
    assert r.status_code == 413, r.text[:500]
    (error,) = r.json()["errors"]
    _too_large(error, "placement.request.too_large")
    assert error["request_id"] == r.headers["x-openstack-request-id"]
    assert str(DEFAULT_MAX_REQUEST_BODY_SIZE) in str(error["detail"])
    assert "openstack-api-version" in r.headers
    assert _providers(placement.url) == []


def test_an_announced_body_over_the_limit_is_refused_unread(placement: RunningServer) -> None:
    # Only 1 KiB of the 60 MB is ever sent: the answer can only come if the server does not wait for the rest.
    answer = exchange(placement.url, f"POST /resource_providers HTTP/1.1\r\nhost: x\r\n{HEAD}\r\n"
                                     f"content-length: {MB60}", [b'{"name": "' + b"x" * 1024])
    assert answer.status == 413, answer
    _too_large(answer.json()["errors"][0], "placement.request.too_large")


def test_a_chunked_body_is_refused_once_past_the_limit_and_read_when_within(placement: RunningServer) -> None:
    # The chunks never end: the answer comes once the server has read past the limit.
    endless = (part for _ in range(10**6) for part in chunks(64 << 10, last=False))
    answer = exchange(placement.url, f"POST /resource_providers HTTP/1.1\r\nhost: x\r\n{HEAD}\r\n"
                                     "transfer-encoding: chunked", endless)
    assert answer.status == 413, answer
    _too_large(answer.json()["errors"][0], "placement.request.too_large")
    assert _providers(placement.url) == []
    # A small chunked body is a body like any other.
    name = f"chunked-{uuid.uuid4().hex[:8]}".encode()
    body = b'{"name": "' + name + b'"}'
    answer = exchange(placement.url, f"POST /resource_providers HTTP/1.1\r\nhost: x\r\n{HEAD}\r\n"
                                     "transfer-encoding: chunked", [f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n"])
    assert answer.status == 200, answer
    assert _providers(placement.url) == [name.decode()]


def test_a_nova_query_with_150_aggregates_passes(placement: RunningServer) -> None:
    aggregates = ",".join(str(uuid.uuid4()) for _ in range(150))
    for path in ("/resource_providers", "/allocation_candidates"):
        params = {"member_of": "in:" + aggregates}
        if path == "/allocation_candidates":
            params["resources"] = "VCPU:1"
        r = httpx.get(placement.url + path, params=params, headers=ADMIN)
        assert len(str(r.request.url)) > 5800
        assert r.status_code == 200, r.text[:300]


def test_placement_limits_follow_the_file_and_the_command_line_wins() -> None:
    config = "[api]\nmax_request_body_size = 1024\nlimit_request_line = 2048\nlimit_request_field_size = 4096\n"
    with allotment_server(workers=1, config_text=config, extra_args=["--max-request-body-size", "2048"]) as server:
        ok = b'{"name": "' + b"a" * 1500 + b'"}'  # over the file's 1024, within the command line's 2048
        r = httpx.post(server.url + "/resource_providers", content=ok, headers={**ADMIN, "content-type": "application/json"})
        assert r.status_code == 400, r.text  # too long a name: read and judged, not refused at the door
        r = httpx.post(server.url + "/resource_providers", content=b'{"name": "' + b"a" * 3000 + b'"}',
                       headers={**ADMIN, "content-type": "application/json"})
        assert r.status_code == 413, r.text[:500]
        assert httpx.get(server.url + "/resource_providers", params={"name": "n" * 1900}, headers=ADMIN).status_code == 200
        assert httpx.get(server.url + "/resource_providers", params={"name": "n" * 2100}, headers=ADMIN).status_code == 414
        assert httpx.get(server.url + "/", headers={"x-filler": "f" * 3900}).status_code == 200
        assert httpx.get(server.url + "/", headers={"x-filler": "f" * 4200}).status_code == 431


def test_the_scheduler_refuses_large_bodies_unread_in_its_envelope(scheduler: RunningServer) -> None:
    head = "content-type: application/json\r\nhost: x"
    answer = exchange(scheduler.url, f"PUT /hosts/c1 HTTP/1.1\r\n{head}\r\ncontent-length: {MB60}", [b"{" * 1024])
    assert answer.status == 413, answer
    (error,) = answer.json()["errors"]
    _too_large(error, "scheduler.body_too_large")
    assert error["request_id"] == answer.headers["x-openstack-request-id"]
    endless = (part for _ in range(10**6) for part in chunks(64 << 10, last=False))
    answer = exchange(scheduler.url, f"PUT /hosts/c1 HTTP/1.1\r\n{head}\r\ntransfer-encoding: chunked", endless)
    assert answer.status == 413, answer
    _too_large(answer.json()["errors"][0], "scheduler.body_too_large")
    # Chunked bodies within the limit are read.
    body = b'{"provider_uuid": "' + str(uuid.uuid4()).encode() + b'"}'
    answer = exchange(scheduler.url, f"PUT /hosts/c1 HTTP/1.1\r\n{head}\r\ntransfer-encoding: chunked",
                      [f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n"])
    assert answer.status in (200, 201), answer
    assert [h["name"] for h in httpx.get(scheduler.url + "/hosts").json()["hosts"]] == ["c1"]
    # A long query passes the door (6 KB; what the resource makes of it is its own business).
    r = httpx.get(scheduler.url + "/hosts", params={"x": "y" * 6000})
    assert r.status_code not in (400, 414), r.text[:300]


def test_scheduler_limits_follow_the_file_and_the_command_line_wins() -> None:
    config = "[scheduler.api]\nmax_request_body_size = 100\nlimit_request_line = 2048\n"
    with scheduler_server(workers=1, config_text=config, extra_args=["--max-request-body-size", "200"]) as server:
        body = b'{"provider_uuid": "' + str(uuid.uuid4()).encode() + b'", "cell": "' + b"c" * 100 + b'"}'
        assert 100 < len(body) < 200
        r = httpx.put(server.url + "/hosts/c1", content=body, headers={"content-type": "application/json"})
        assert r.status_code in (200, 201), r.text
        r = httpx.put(server.url + "/hosts/c2", content=body + b" " * 100, headers={"content-type": "application/json"})
        assert r.status_code == 413 and r.json()["errors"][0]["code"] == "scheduler.body_too_large", r.text
        assert httpx.get(server.url + "/hosts", params={"x": "y" * 2100}).status_code == 414
