"""Which headers come with which answers, as upstream sends them.

Upstream's handlers turn their own errors into answers, which then get both
``openstack-api-version`` and ``vary`` like any answer; errors raised outside a
handler (unknown route, content-type checks, policy refusals, a lookup's NotFound
that the handler does not catch) get the version header only.
"""

from __future__ import annotations

import uuid

import httpx
import pytest

pytestmark = pytest.mark.usefixtures("store")

MISSING = "99999999-9999-9999-9999-999999999999"
MEMBER = {"x-auth-token": "bob:bob", "x-roles": "member"}


def assert_headers(resp: httpx.Response, status: int, *, vary: bool) -> None:
    assert resp.status_code == status, resp.text
    assert resp.headers["openstack-api-version"] == "placement 1.39"
    assert resp.headers["content-type"] == "application/json"
    assert resp.headers["x-openstack-request-id"].startswith("req-")
    assert ("vary" in resp.headers) is vary, dict(resp.headers)
    assert "last-modified" not in resp.headers and "cache-control" not in resp.headers


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/nope"),
        ("GET", "/resource_providers/nope"),
        ("GET", f"/resource_providers/{MISSING}"),
        ("PUT", f"/resource_providers/{MISSING}/aggregates"),
        ("GET", f"/resource_providers/{MISSING}/aggregates"),
        ("DELETE", f"/resource_providers/{MISSING}/traits"),
        ("DELETE", f"/resource_providers/{MISSING}/inventories"),
        ("DELETE", f"/resource_providers/{MISSING}/inventories/VCPU"),
        ("GET", "/resource_classes/CUSTOM_NOPE"),
        ("DELETE", "/resource_classes/CUSTOM_NOPE"),
    ],
)
def test_errors_raised_outside_handlers_have_no_vary(api: httpx.Client, method: str, path: str) -> None:
    body = {"aggregates": [], "resource_provider_generation": 0} if method == "PUT" else None
    assert_headers(api.request(method, path, json=body), 404, vary=False)


def test_missing_content_type_and_policy_refusal_have_no_vary(api: httpx.Client) -> None:
    resp = api.post("/resource_providers", content=b"{}", headers={"content-type": ""})
    assert_headers(resp, 400, vary=False)
    assert_headers(api.get("/resource_providers", headers=MEMBER), 403, vary=False)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", f"/resource_providers/{MISSING}/inventories"),
        ("GET", f"/resource_providers/{MISSING}/inventories/VCPU"),
        ("GET", f"/resource_providers/{MISSING}/usages"),
        ("GET", f"/resource_providers/{MISSING}/traits"),
        ("GET", f"/resource_providers/{MISSING}/allocations"),
        ("DELETE", f"/resource_providers/{MISSING}"),
        ("DELETE", f"/allocations/{MISSING}"),
        ("GET", "/traits/CUSTOM_NOPE"),
        ("DELETE", "/traits/CUSTOM_NOPE"),
    ],
)
def test_not_found_answered_by_the_handler_has_vary(api: httpx.Client, method: str, path: str) -> None:
    assert_headers(api.request(method, path), 404, vary=True)


def test_other_errors_have_vary(api: httpx.Client) -> None:
    rp = str(uuid.uuid4())
    api.post("/resource_providers", json={"name": "rp", "uuid": rp})
    assert_headers(api.delete(f"/resource_providers/{rp}/inventories/VCPU"), 404, vary=True)
    assert_headers(api.patch("/resource_providers"), 405, vary=True)
    assert_headers(api.post("/resource_providers", json={"bad": 1}), 400, vary=True)
    stale = api.put(f"/resource_providers/{rp}/traits", json={"traits": [], "resource_provider_generation": 5})
    assert_headers(stale, 409, vary=True)


def test_empty_inventory_collection_has_no_last_modified(api: httpx.Client) -> None:
    rp = str(uuid.uuid4())
    api.post("/resource_providers", json={"name": "rp", "uuid": rp})
    url = f"/resource_providers/{rp}/inventories"
    empty = api.get(url)
    assert empty.status_code == 200 and "last-modified" not in empty.headers
    assert empty.headers["cache-control"] == "no-cache"
    put = api.put(url, json={"resource_provider_generation": 0, "inventories": {}})
    assert put.status_code == 200 and "last-modified" not in put.headers
    api.put(url, json={"resource_provider_generation": 1, "inventories": {"VCPU": {"total": 1}}})
    assert api.get(url).headers["last-modified"].endswith("GMT")
    # Every other collection says "now" when it is empty, as upstream does.
    for path in (f"/resource_providers/{rp}/traits", f"/resource_providers/{rp}/aggregates",
                 f"/resource_providers/{rp}/allocations", f"/allocations/{MISSING}", f"/resource_providers/{rp}/usages",
                 "/usages?project_id=nobody", "/resource_providers?name=nobody", "/traits?name=in:CUSTOM_NOBODY"):
        assert api.get(path).headers["last-modified"].endswith("GMT"), path


def test_deleting_inventory_of_an_unknown_class_says_the_class_is_unknown(api: httpx.Client) -> None:
    rp = str(uuid.uuid4())
    api.post("/resource_providers", json={"name": "rp", "uuid": rp})
    unknown = api.delete(f"/resource_providers/{rp}/inventories/CUSTOM_NOPE")
    assert unknown.status_code == 404
    assert "No inventory of class CUSTOM_NOPE found for delete: No such resource class CUSTOM_NOPE." in unknown.text
    absent = api.delete(f"/resource_providers/{rp}/inventories/VCPU")
    # Upstream's own words, repeated (seen by the differential tester).
    assert "No inventory of class VCPU found for delete: No inventory of class VCPU found for delete  " in absent.text


def test_a_method_too_new_for_the_microversion_is_a_bare_405(api: httpx.Client) -> None:
    rp = str(uuid.uuid4())
    api.post("/resource_providers", json={"name": "rp", "uuid": rp})
    resp = api.delete(f"/resource_providers/{rp}/inventories", headers={"openstack-api-version": "placement 1.4"})
    assert resp.status_code == 405 and "allow" not in resp.headers
    assert resp.json()["errors"][0]["detail"] == "The method DELETE is not allowed for this resource. \n\n "
