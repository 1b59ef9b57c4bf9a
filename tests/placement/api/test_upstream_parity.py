"""Answers where allotment differed from upstream Placement 16.0.0, found by the
differential tester (tests/placement/differential); each test pins upstream's answer."""

from __future__ import annotations

import httpx

V = {"openstack-api-version": "placement 1.39"}


def _provider(api: httpx.Client, name: str = "rp", **extra: object) -> str:
    resp = api.post("/resource_providers", json={"name": name, **extra})
    assert resp.status_code == 200, resp.text
    return str(resp.json()["uuid"])


def _detail(resp: httpx.Response) -> str:
    return str(resp.json()["errors"][0]["detail"])


def test_method_newer_than_the_microversion_is_a_bare_405(api: httpx.Client) -> None:
    rp = _provider(api)
    resp = api.delete(f"/resource_providers/{rp}/inventories", headers={"openstack-api-version": "placement 1.4"})
    assert resp.status_code == 405
    assert _detail(resp) == "The method DELETE is not allowed for this resource. \n\n "


def test_missing_parent_is_reported_before_a_duplicate_name(api: httpx.Client) -> None:
    _provider(api, "taken")
    resp = api.post(
        "/resource_providers", json={"name": "taken", "parent_provider_uuid": "7" * 8 + "-0000-4000-8000-" + "0" * 12}
    )
    assert resp.status_code == 400
    assert "parent provider UUID does not exist" in _detail(resp)
