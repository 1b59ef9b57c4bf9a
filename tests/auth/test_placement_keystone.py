"""Placement behind a real Keystone: tokens it issues are accepted, bad ones refused, and policy
applies to the roles, project and scope Keystone vouches for."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import httpx
import pytest

from allotment.bench.servers import RunningServer
from allotment.infra.database import Database
from allotment.placement.api.app import make_app
from allotment.placement.config import load_config
from allotment.placement.schema import upgrade
from tests.auth.conftest import PASSWORD, Cloud

LATEST = {"openstack-api-version": "placement latest"}


def _get(server: RunningServer, path: str, token: str | None, **headers: str) -> httpx.Response:
    sent = {**LATEST, **headers, **({"x-auth-token": token} if token is not None else {})}
    return httpx.get(server.url + path, headers=sent, timeout=30)


def _post(server: RunningServer, path: str, token: str, body: object) -> httpx.Response:
    return httpx.post(server.url + path, json=body, headers={**LATEST, "x-auth-token": token}, timeout=30)


def _refused(resp: httpx.Response, cloud: Cloud) -> None:
    assert resp.status_code == 401, resp.text
    assert resp.headers["www-authenticate"] == f'Keystone uri="{cloud.keystone.url}"'
    assert resp.headers["x-openstack-request-id"].startswith("req-")


def test_the_version_document_needs_no_token(placement: RunningServer) -> None:
    resp = _get(placement, "/", None)
    assert resp.status_code == 200
    assert resp.json()["versions"][0]["max_version"] == "1.39"


def test_no_token_or_one_keystone_did_not_issue_is_refused(placement: RunningServer, cloud: Cloud) -> None:
    _refused(_get(placement, "/resource_providers", None), cloud)
    _refused(_get(placement, "/resource_providers", "admin"), cloud)  # a noauth2 token means nothing here
    _refused(_get(placement, "/resource_providers", "gAAAAAB-not-a-fernet-token"), cloud)


def test_an_admin_token_may_do_what_admin_may(placement: RunningServer, cloud: Cloud) -> None:
    token = cloud.token("admin")
    created = _post(placement, "/resource_providers", token, {"name": f"rp-{uuid.uuid4()}"})
    assert created.status_code == 200, created.text
    listed = _get(placement, "/resource_providers", token)
    assert created.json()["uuid"] in [rp["uuid"] for rp in listed.json()["resource_providers"]]
    # The reshaper is the service's alone (secure-RBAC defaults), admin or not.
    assert _post(placement, "/reshaper", token, {}).status_code == 403


def test_the_service_user_may_reshape(placement: RunningServer, cloud: Cloud) -> None:
    resp = _post(placement, "/reshaper", cloud.token("placement", "service"), {})
    assert resp.status_code == 400, resp.text  # past policy, refused for the empty body


def test_a_reader_cannot_write_and_headers_cannot_make_it_admin(placement: RunningServer, cloud: Cloud) -> None:
    token = cloud.token("reader-a", "alpha")
    assert _post(placement, "/resource_providers", token, {"name": "nope"}).status_code == 403
    assert _post(placement, "/traits", token, {}).status_code in (403, 405)
    assert httpx.put(f"{placement.url}/traits/CUSTOM_NOPE", headers={**LATEST, "x-auth-token": token}).status_code == 403
    # The middleware drops identity headers the client sends before it sets its own.
    forged = {"x-roles": "admin", "x-project-id": cloud.projects["beta"], "openstack-system-scope": "all"}
    assert _get(placement, "/resource_providers", token, **forged).status_code == 403
    assert _get(placement, f"/usages?project_id={cloud.projects['alpha']}", token, **forged).status_code == 200


def test_usages_are_scoped_to_the_token_project(placement: RunningServer, cloud: Cloud) -> None:
    alpha, beta = cloud.projects["alpha"], cloud.projects["beta"]
    member_a = cloud.token("member-a", "alpha")  # member implies reader in Keystone's token
    assert _get(placement, f"/usages?project_id={alpha}", member_a).status_code == 200
    assert _get(placement, f"/usages?project_id={beta}", member_a).status_code == 403
    member_b = cloud.token("member-b", "beta")
    assert _get(placement, f"/usages?project_id={beta}", member_b).status_code == 200
    assert _get(placement, f"/usages?project_id={alpha}", member_b).status_code == 403
    # Admin reads any project's usages.
    assert _get(placement, f"/usages?project_id={beta}", cloud.token("admin")).status_code == 200


def test_system_and_domain_scoped_admin_tokens_are_refused_on_project_scoped_rules(placement: RunningServer,
                                                                                    cloud: Cloud) -> None:
    for token in (cloud.token("admin", system=True), cloud.token("admin", domain="default")):
        assert _get(placement, "/resource_providers", token).status_code == 403
        assert _post(placement, "/resource_providers", token, {"name": "sys"}).status_code == 403
    assert _get(placement, "/resource_providers", cloud.token("admin")).status_code == 200


def test_a_revoked_token_is_refused(placement: RunningServer, cloud: Cloud) -> None:
    token = cloud.token("member-a", "alpha")
    path = f"/usages?project_id={cloud.projects['alpha']}"
    assert _get(placement, path, token).status_code == 200
    cloud.keystone.revoke(token)
    _refused(_get(placement, path, token), cloud)


def test_an_expired_token_is_refused(placement: RunningServer, cloud: Cloud) -> None:
    path = f"/usages?project_id={cloud.projects['alpha']}"
    token = cloud.keystone.short_lived_token(cloud.users["member-a"], PASSWORD, "member-a", "alpha", seconds=4)
    assert _get(placement, path, token).status_code == 200
    deadline = time.monotonic() + 15
    while (resp := _get(placement, path, token)).status_code == 200:
        assert time.monotonic() < deadline, "the token outlived its expiry"
        time.sleep(0.5)
    _refused(resp, cloud)


# webob, under keystonemiddleware, still imports cgi; here it is imported into the test process.
@pytest.mark.filterwarnings("ignore:'cgi' is deprecated:DeprecationWarning")
def test_with_delay_auth_decision_placement_itself_refuses(cloud: Cloud, tmp_path: Path) -> None:
    # The middleware then passes a bad token on, marked X-Identity-Status: Invalid; the
    # context layer answers 401, and the middleware adds WWW-Authenticate on the way out.
    conf_file = tmp_path / "allotment.toml"
    conf_file.write_text('[auth]\nstrategy = "keystone"\n' + cloud.authtoken_toml() + "delay_auth_decision = true\n")
    conf = load_config(conf_file, db_url=f"sqlite:///{tmp_path}/placement.sqlite")
    store = Database(conf.db_url)
    try:
        upgrade(store)
        with httpx.Client(transport=httpx.WSGITransport(app=make_app(conf, store)), base_url="http://p") as http:
            for token in (None, "not-a-token"):
                resp = http.get("/resource_providers", headers={"x-auth-token": token} if token else {})
                _refused(resp, cloud)
            ok = http.get("/resource_providers", headers={"x-auth-token": cloud.token("admin")})
            assert ok.status_code == 200, ok.text
    finally:
        store.dispose()
