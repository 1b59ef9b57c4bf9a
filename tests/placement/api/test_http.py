"""HTTP behaviour shared by every route: versions, errors, auth, content types, headers."""

from __future__ import annotations

import httpx
import pytest

from allotment.placement.api.http import HTTPError, acceptable_offers

pytestmark = pytest.mark.usefixtures("store")


def test_root_needs_no_token_and_lists_versions(api: httpx.Client) -> None:
    resp = api.get("/", headers={"x-auth-token": ""})
    assert resp.status_code == 200
    version = resp.json()["versions"][0]
    assert (version["min_version"], version["max_version"]) == ("1.0", "1.39")


def test_missing_token_is_401_except_root(api: httpx.Client) -> None:
    api.headers.pop("x-auth-token")
    assert api.get("/").status_code == 200
    resp = api.get("/resource_providers")
    assert resp.status_code == 401
    assert "x-openstack-request-id" in resp.headers


@pytest.mark.parametrize(
    ("header", "status"),
    [("placement 1.40", 406), ("placement 2.0", 406), ("placement 0.9", 406), ("placement one", 400)],
)
def test_bad_microversions(api: httpx.Client, header: str, status: int) -> None:
    resp = api.get("/resource_providers", headers={"openstack-api-version": header})
    assert resp.status_code == status
    error = resp.json()["errors"][0]
    assert error["status"] == status
    assert "Invalid microversion" in error["detail"]
    if status == 406:
        assert (error["min_version"], error["max_version"]) == ("1.0", "1.39")


def test_version_headers_and_cache_headers(api: httpx.Client) -> None:
    resp = api.get("/resource_providers", headers={"openstack-api-version": "placement 1.15"})
    assert resp.headers["openstack-api-version"] == "placement 1.15"
    assert resp.headers["vary"] == "openstack-api-version"
    assert resp.headers["cache-control"] == "no-cache"
    assert resp.headers["last-modified"].endswith("GMT")
    old = api.get("/resource_providers", headers={"openstack-api-version": "placement 1.14"})
    assert "last-modified" not in old.headers and "cache-control" not in old.headers
    api.headers.pop("openstack-api-version")
    assert api.get("/").headers["openstack-api-version"] == "placement 1.0"


def test_error_code_from_1_23(api: httpx.Client) -> None:
    new = api.get("/resource_providers/nope").json()["errors"][0]
    assert new["code"] == "placement.undefined_code" and new["request_id"].startswith("req-")
    old = api.get("/resource_providers/nope", headers={"openstack-api-version": "placement 1.22"})
    assert "code" not in old.json()["errors"][0]


def test_405_lists_allowed_methods(api: httpx.Client) -> None:
    resp = api.patch("/resource_providers")
    assert resp.status_code == 405
    assert resp.headers["allow"] == "GET, POST"


def test_unsupported_media_type_and_missing_content_type(api: httpx.Client) -> None:
    resp = api.post("/resource_providers", content=b'{"name": "x"}', headers={"content-type": "text/plain"})
    assert resp.status_code == 415
    assert "The media type text/plain is not supported, use application/json" in resp.text
    resp = api.post("/resource_providers", content=b'{"name": "x"}', headers={"content-type": ""})
    assert resp.status_code == 400
    assert "content-type header required" in resp.text


def test_not_acceptable(api: httpx.Client) -> None:
    resp = api.get("/resource_providers", headers={"accept": "text/plain"})
    assert resp.status_code == 406
    assert "Only application/json is provided" in resp.text


def test_request_id_on_every_response(api: httpx.Client) -> None:
    for resp in (api.get("/"), api.get("/nowhere"), api.post("/resource_providers", json={})):
        assert resp.headers["x-openstack-request-id"].startswith("req-")


def test_error_body_follows_accept() -> None:
    env = {"REQUEST_METHOD": "GET", "HTTP_ACCEPT": "text/html"}
    html = HTTPError(404, "gone").to_response(env)
    assert html.body.startswith(b"<html>") and b"gone" in html.body
    plain = HTTPError(404, "gone").to_response({"REQUEST_METHOD": "GET", "HTTP_ACCEPT": "text/plain"})
    assert plain.body.startswith(b"404 Not Found\n\n")


@pytest.mark.parametrize(
    ("header", "offers", "expected"),
    [
        (None, ["text/html", "application/json"], ["text/html", "application/json"]),
        ("application/json", ["text/html", "application/json"], ["application/json"]),
        ("text/*;q=0.5, application/json", ["text/html", "application/json"], ["application/json", "text/html"]),
        ("application/json;q=0", ["application/json"], []),
        ("image/png", ["application/json"], []),
    ],
)
def test_accept_negotiation(header: str | None, offers: list[str], expected: list[str]) -> None:
    assert acceptable_offers(header, offers) == expected
