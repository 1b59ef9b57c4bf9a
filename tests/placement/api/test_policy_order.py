"""The policy is checked before the body is read: a refused caller gets 403 whatever it sends."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from allotment.infra.database import Database
from allotment.placement.api.app import make_app
from allotment.placement.config import Config, load_config

MISSING = "99999999-9999-9999-9999-999999999999"
MEMBER = {"x-auth-token": "bob:bob", "x-roles": "member", "openstack-api-version": "placement latest"}

# Every route that takes a body, at a microversion where it takes one.
BODY_ROUTES = [
    ("POST", "/resource_classes", "latest"),
    ("PUT", "/resource_classes/CUSTOM_X", "1.2"),
    ("POST", "/resource_providers", "latest"),
    ("PUT", f"/resource_providers/{MISSING}", "latest"),
    ("POST", f"/resource_providers/{MISSING}/inventories", "latest"),
    ("PUT", f"/resource_providers/{MISSING}/inventories", "latest"),
    ("PUT", f"/resource_providers/{MISSING}/inventories/VCPU", "latest"),
    ("PUT", f"/resource_providers/{MISSING}/aggregates", "latest"),
    ("PUT", f"/resource_providers/{MISSING}/traits", "latest"),
    ("POST", "/allocations", "latest"),
    ("PUT", f"/allocations/{MISSING}", "latest"),
    ("POST", "/reshaper", "latest"),
]


@pytest.mark.parametrize("body", [b'{"bad": 1}', b"not json"], ids=["invalid", "malformed"])
@pytest.mark.parametrize(("method", "path", "version"), BODY_ROUTES)
def test_refused_role_with_a_bad_body_gets_403(
    api: httpx.Client, method: str, path: str, version: str, body: bytes
) -> None:
    headers = {**MEMBER, "openstack-api-version": f"placement {version}", "content-type": "application/json"}
    resp = api.request(method, path, content=body, headers=headers)
    assert resp.status_code == 403, resp.text
    assert "Policy does not allow" in resp.json()["errors"][0]["detail"]


@pytest.fixture
def secure_api(store: Database) -> Iterator[httpx.Client]:
    """The app as configured out of the box: upstream 16.0.0's secure-RBAC defaults, under which
    only the service role may reshape."""
    app = make_app(Config(), store)
    headers = {"x-auth-token": "admin", "openstack-api-version": "placement latest"}
    with httpx.Client(transport=httpx.WSGITransport(app=app), base_url="http://placement", headers=headers) as c:
        yield c


def test_admin_refused_the_reshaper_by_new_defaults_gets_403_for_a_bad_body(secure_api: httpx.Client) -> None:
    resp = secure_api.post("/reshaper", json={"inventories": {}})
    assert resp.status_code == 403, resp.text
    assert "placement:reshaper:reshape" in resp.text


def test_the_default_policy_is_upstreams_default() -> None:
    # oslo.policy 4+ (upstream 16.0.0 runs 6.x) defaults enforce_new_defaults to true and always
    # checks scope: out of the box, allotment answers as an upstream server configured by default.
    conf = load_config(None)
    assert (conf.enforce_new_defaults, conf.enforce_scope) == (True, True)


def test_the_service_role_may_reshape_by_default(secure_api: httpx.Client) -> None:
    resp = secure_api.post("/reshaper", json={"inventories": {}}, headers={"x-roles": "service"})
    assert resp.status_code == 400, resp.text  # past the policy, refused by the schema
