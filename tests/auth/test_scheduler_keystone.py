"""The scheduler API behind the same Keystone: a token is required, operators and services may
call it, a reader may only read (and only on a system-scoped token)."""

from __future__ import annotations

import tomllib

import httpx

from allotment.bench.servers import RunningServer
from allotment.client import connect
from allotment.client.keystone import KeystonePassword
from tests.auth.conftest import Cloud
from tests.scheduler.fleet import boot_spec, flavor


def _call(method: str, url: str, token: str | None, body: object = None) -> httpx.Response:
    headers = {"x-auth-token": token} if token is not None else {}
    return httpx.request(method, url, headers=headers, json=body, timeout=30)


def test_the_route_list_is_public_and_everything_else_needs_a_token(scheduler: str, cloud: Cloud) -> None:
    assert _call("GET", f"{scheduler}/", None).status_code == 200
    for resp in (_call("GET", f"{scheduler}/hosts", None), _call("GET", f"{scheduler}/hosts", "admin")):
        assert resp.status_code == 401, resp.text
        assert resp.headers["www-authenticate"] == f'Keystone uri="{cloud.keystone.url}"'


def test_admin_and_service_may_write(scheduler: str, cloud: Cloud) -> None:
    for token in (cloud.token("admin"), cloud.token("placement", "service")):
        made = _call("POST", f"{scheduler}/aggregates", token, {"name": f"rack-{token[-8:]}"})
        assert made.status_code == 201, made.text
        assert _call("GET", f"{scheduler}/aggregates", token).status_code == 200


def test_a_reader_may_read_on_a_system_token_and_never_write(scheduler: str, cloud: Cloud) -> None:
    auditor = cloud.token("auditor", system=True)
    assert _call("GET", f"{scheduler}/aggregates", auditor).status_code == 200
    refused = _call("POST", f"{scheduler}/aggregates", auditor, {"name": "audited"})
    assert refused.status_code == 403, refused.text
    assert refused.json()["errors"][0]["code"] == "scheduler.forbidden"
    # A project's reader or member is no operator: nothing at all.
    for token in (cloud.token("reader-a", "alpha"), cloud.token("member-a", "alpha")):
        assert _call("GET", f"{scheduler}/aggregates", token).status_code == 403
        assert _call("POST", f"{scheduler}/aggregates", token, {"name": "tenant"}).status_code == 403


def test_a_revoked_token_is_refused(scheduler: str, cloud: Cloud) -> None:
    token = cloud.token("placement", "service")
    assert _call("GET", f"{scheduler}/hosts", token).status_code == 200
    cloud.keystone.revoke(token)
    assert _call("GET", f"{scheduler}/hosts", token).status_code == 401


def test_the_scheduler_calls_placement_with_a_token_of_its_own(scheduler: str, cloud: Cloud) -> None:
    # Placement (behind Keystone, no providers yet) answers the scheduler's query: no valid host,
    # not a placement error as it would be if placement had refused the scheduler's token.
    spec = boot_spec(flavor(vcpus=1)).to_dict()
    resp = _call("POST", f"{scheduler}/select_destinations", cloud.token("placement", "service"),
                 {"request_spec": spec})
    assert resp.status_code == 409, resp.text
    assert resp.json()["errors"][0]["code"] == "scheduler.no_valid_host"


def test_the_client_renews_a_revoked_token(placement: RunningServer, cloud: Cloud) -> None:
    options = tomllib.loads(cloud.authtoken_toml())["keystone_authtoken"]
    auth = KeystonePassword.from_options(options)
    with connect(placement.url, auth=auth) as client:
        assert client.list_providers() is not None
        first = auth.token()
        cloud.keystone.revoke(first)
        assert client.list_providers() is not None  # refused once with 401, then a new token
        assert auth.token() != first


def test_monitoring_needs_no_token_and_the_decisions_do(scheduler: str, placement: RunningServer) -> None:
    for url in (scheduler, placement.url):
        for path in ("/healthz", "/readyz", "/metrics"):
            resp = _call("GET", f"{url}{path}", None)
            assert resp.status_code == 200, (url, path, resp.text)
    assert _call("GET", f"{scheduler}/decisions", None).status_code == 401
