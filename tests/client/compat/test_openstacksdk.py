"""openstacksdk's placement proxy (``conn.placement``) against a real allotment server.

``sdk_scenario.py`` runs in the clients' virtualenv and reports what the SDK returned;
the assertions here check those values, and check through our own HTTP client that what
the SDK wrote is what placement holds.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from allotment.bench.servers import RunningServer
from tests.client.compat.osc_venv import client_env
from tests.client.compat.server_log import server_errors

SCENARIO = Path(__file__).resolve().parent / "sdk_scenario.py"


@pytest.fixture(scope="module")
def sdk(osc_venv: Path, server: RunningServer) -> dict[str, Any]:
    proc = subprocess.run([str(osc_venv / "bin" / "python"), str(SCENARIO), server.url],
                          capture_output=True, text=True, timeout=300, env=client_env(osc_venv))
    assert proc.returncode == 0, f"openstacksdk scenario failed:\n{proc.stderr[-4000:]}"
    return dict(json.loads(proc.stdout))


def test_providers(sdk: dict[str, Any]) -> None:
    root = sdk["root"]
    assert root["name"] == "sdk-root" and root["generation"] == 0
    uuid.UUID(root["id"])
    assert sdk["child_parent"] == root["id"]
    assert sdk["list_by_name"] == [root["id"]]
    assert sdk["list_all"] == ["sdk-child", "sdk-root"]
    assert sdk["in_tree"] == ["sdk-child", "sdk-root"]
    assert sdk["renamed"] == "sdk-root-2"
    assert sdk["after_delete"] == []


def test_errors_map_to_sdk_exceptions(sdk: dict[str, Any]) -> None:
    assert sdk["missing_provider"]["type"] == "NotFoundException"
    assert sdk["missing_provider"]["status"] == 404
    # The SDK talks 1.20 to provider URLs: no error codes before 1.23, as upstream.
    stale = sdk["stale_generation"]
    assert (stale["type"], stale["version"], stale["code"]) == ("ConflictException", "placement 1.20", None)
    assert "generation" in stale["detail"]
    in_use = sdk["delete_in_use"]
    assert (in_use["type"], in_use["code"]) == ("ConflictException", None)
    assert "in use" in in_use["detail"].lower() or "allocations" in in_use["detail"].lower()
    # ... and 1.38 to /allocations, where the code tells a lost race from other conflicts.
    exists = sdk["consumer_exists"]
    assert (exists["type"], exists["version"]) == ("ConflictException", "placement 1.38")
    assert exists["code"] == "placement.concurrent_update"


def test_inventories(sdk: dict[str, Any]) -> None:
    inv = sdk["inventories"]
    assert set(inv) == {"VCPU", "MEMORY_MB", "DISK_GB"}
    assert inv["VCPU"]["total"] == 16 and inv["VCPU"]["allocation_ratio"] == 4.0
    assert inv["MEMORY_MB"]["total"] == 32768 and inv["MEMORY_MB"]["reserved"] == 512
    assert sdk["disk_created_max_unit"] == 100
    # The SDK's update PUTs only the fields it was given, so max_unit falls back to placement's default.
    assert inv["DISK_GB"]["total"] == 600 and inv["DISK_GB"]["max_unit"] == 2147483647


def test_traits_and_aggregates(sdk: dict[str, Any]) -> None:
    assert sdk["trait_get"] == "CUSTOM_SDK_FAST"
    assert sdk["traits_custom"] == ["CUSTOM_SDK_FAST"]
    assert sdk["provider_traits"] == ["CUSTOM_SDK_FAST", "HW_CPU_X86_AVX2"]
    assert sdk["traits_after_delete"] == []
    assert sdk["aggregates"]["read"] == [sdk["aggregates"]["set"]]
    assert sdk["member_of"] == [sdk["root"]["id"]]


def test_resource_classes_and_candidates(sdk: dict[str, Any]) -> None:
    root = sdk["root"]["id"]
    assert sdk["resource_class"] == "CUSTOM_SDK_WIDGET"
    assert sdk["resource_classes_has_standard"] is True
    assert sdk["candidates"] == [
        {"allocations": {root: {"resources": {"VCPU": 2, "MEMORY_MB": 1024}}}, "summaries": [root]}
    ]


def test_allocations_and_usages(sdk: dict[str, Any]) -> None:
    root, consumer = sdk["root"]["id"], sdk["consumer"]
    alloc = sdk["allocation"]
    assert alloc["allocations"][root]["resources"] == {"VCPU": 2, "MEMORY_MB": 1024}
    assert (alloc["project_id"], alloc["user_id"]) == (sdk["project"], sdk["user"])
    assert sdk["provider_usages"] == {"VCPU": 2, "MEMORY_MB": 1024, "DISK_GB": 0}
    assert [(u["consumer_type"], u["consumer_count"], u["resources"]) for u in sdk["project_usages"]] == [
        ("INSTANCE", 1, {"VCPU": 2, "MEMORY_MB": 1024})
    ]
    assert [(a["consumer_id"], a["resources"]) for a in sdk["provider_allocations"]] == [
        (consumer, {"VCPU": 2, "MEMORY_MB": 1024})
    ]
    assert sdk["allocation_after_delete"] == {}


def test_what_the_sdk_wrote_is_what_placement_holds(sdk: dict[str, Any], server: RunningServer) -> None:
    headers = {"x-auth-token": "admin", "openstack-api-version": "placement latest"}
    with httpx.Client(base_url=server.url, headers=headers) as c:
        assert c.get(f"/resource_providers/{sdk['root']['id']}").status_code == 404
        assert c.get(f"/allocations/{sdk['consumer']}").json()["allocations"] == {}
        assert c.get("/traits/CUSTOM_SDK_FAST").status_code == 204
        assert c.get("/resource_classes/CUSTOM_SDK_WIDGET").status_code == 200
        assert c.get("/usages", params={"project_id": sdk["project"]}).json()["usages"] == {}


def test_no_server_errors(sdk: dict[str, Any], server: RunningServer) -> None:
    assert server_errors(server) == []
