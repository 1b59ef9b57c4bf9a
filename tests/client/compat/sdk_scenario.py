"""An openstacksdk session against a placement endpoint; run with the osc virtualenv's Python.

Usage: ``python sdk_scenario.py ENDPOINT``. Drives ``conn.placement`` through providers,
inventories, traits, aggregates, resource classes, candidates, allocations and usages,
and prints what the SDK handed back as one JSON object on stdout. The checks live in
``test_openstacksdk.py``: this script only records, so a wrong value shows up there as a
readable assertion rather than a traceback from inside the SDK.
"""

from __future__ import annotations

import json
import sys
import uuid
from typing import Any

import openstack
from openstack import exceptions


def _connect(endpoint: str) -> openstack.connection.Connection:
    # admin_token auth sends the token as-is and takes the endpoint as given: exactly what a
    # noauth2 placement needs, with no keystone in the loop.
    return openstack.connection.Connection(
        auth_type="admin_token",
        auth={"endpoint": endpoint, "token": "admin"},
        placement_endpoint_override=endpoint,
    )


def _error(call: Any) -> dict[str, Any]:
    try:
        call()
    except exceptions.HttpException as exc:
        # The SDK's message leaves out placement's error envelope, so read it from the response.
        body = exc.response.json() if exc.response is not None and exc.response.content else {}
        first = (body.get("errors") or [{}])[0]
        return {"type": type(exc).__name__, "status": exc.status_code, "code": first.get("code"),
                "detail": first.get("detail"), "version": exc.response.headers.get("openstack-api-version")}
    return {"type": None}


def run(endpoint: str) -> dict[str, Any]:
    conn = _connect(endpoint)
    p = conn.placement
    out: dict[str, Any] = {}

    root = p.create_resource_provider(name="sdk-root")
    child = p.create_resource_provider(name="sdk-child", parent_provider_uuid=root.id)
    out["root"] = {"id": root.id, "name": root.name, "generation": root.generation}
    out["child_parent"] = p.get_resource_provider(child.id).parent_provider_id
    out["list_by_name"] = [rp.id for rp in p.resource_providers(name="sdk-root")]
    out["list_all"] = sorted(rp.name for rp in p.resource_providers())
    out["in_tree"] = sorted(rp.name for rp in p.resource_providers(in_tree=root.id))
    out["renamed"] = p.update_resource_provider(root, name="sdk-root-2").name
    out["missing_provider"] = _error(lambda: p.get_resource_provider(str(uuid.uuid4())))

    fetched = p.get_resource_provider(root.id)
    p.set_resource_provider_inventories(
        root,
        {"VCPU": {"total": 16, "allocation_ratio": 4.0}, "MEMORY_MB": {"total": 32768, "reserved": 512}},
        resource_provider_generation=fetched.generation,
    )
    p.create_resource_provider_inventory(root, "DISK_GB", total=500, max_unit=100)
    disk = p.get_resource_provider_inventory("DISK_GB", resource_provider=root)
    out["disk_created_max_unit"] = disk.max_unit
    p.update_resource_provider_inventory(
        disk, resource_provider=root, resource_provider_generation=disk.resource_provider_generation, total=600
    )
    out["inventories"] = {
        inv.resource_class: {"total": inv.total, "reserved": inv.reserved, "max_unit": inv.max_unit,
                             "allocation_ratio": inv.allocation_ratio}
        for inv in p.resource_provider_inventories(root)
    }
    stale = p.get_resource_provider(root.id).generation - 1
    out["stale_generation"] = _error(
        lambda: p.set_resource_provider_inventories(root, {}, resource_provider_generation=stale)
    )

    trait = "CUSTOM_SDK_FAST"
    p.create_trait(trait)
    out["trait_get"] = p.get_trait(trait).id  # GET /traits/{name} is a bodiless 204: the name is the id
    out["traits_custom"] = sorted(t.name for t in p.traits(name="startswith:CUSTOM_"))
    rp_traits = p.get_resource_provider_trait(root)
    p.set_resource_provider_trait(rp_traits, traits=[trait, "HW_CPU_X86_AVX2"])
    out["provider_traits"] = sorted(p.get_resource_provider_trait(root).traits)

    agg = str(uuid.uuid4())
    # The SDK sends the generation of the object it is given (1.19+), so hand it a fresh one.
    p.set_resource_provider_aggregates(p.get_resource_provider(root.id), agg)
    out["aggregates"] = {"set": agg, "read": p.fetch_resource_provider_aggregates(root).aggregates}
    out["member_of"] = [rp.id for rp in p.resource_providers(member_of=agg)]

    rc = p.create_resource_class(name="CUSTOM_SDK_WIDGET")
    out["resource_class"] = p.get_resource_class(rc.name).name
    out["resource_classes_has_standard"] = "VCPU" in {c.name for c in p.resource_classes()}

    out["candidates"] = [
        {"allocations": c.allocations, "summaries": sorted(c.provider_summaries)}
        for c in p.allocation_candidates(resources="VCPU:2,MEMORY_MB:1024", required=trait)
    ]

    consumer, project, user = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
    out.update(consumer=consumer, project=project, user=user)
    p.update_allocation(
        consumer,
        allocations={root.id: {"resources": {"VCPU": 2, "MEMORY_MB": 1024}}},
        project_id=project, user_id=user, consumer_generation=None, consumer_type="INSTANCE",
    )
    out["consumer_exists"] = _error(lambda: p.update_allocation(
        consumer,
        allocations={root.id: {"resources": {"VCPU": 1}}},
        project_id=project, user_id=user, consumer_generation=None, consumer_type="INSTANCE",
    ))
    alloc = p.get_allocation(consumer)
    out["allocation"] = {"allocations": alloc.allocations, "project_id": alloc.project_id,
                         "user_id": alloc.user_id}
    out["provider_usages"] = p.fetch_resource_provider_usages(root).usages
    out["project_usages"] = [u.to_dict(computed=False) for u in p.usages(project)]
    out["provider_allocations"] = [a.to_dict(computed=False) for a in p.resource_provider_allocations(root)]
    out["delete_in_use"] = _error(lambda: p.delete_resource_provider_inventories(root))

    p.delete_allocation(consumer)
    out["allocation_after_delete"] = p.get_allocation(consumer).allocations
    p.delete_resource_provider_trait(root)
    out["traits_after_delete"] = p.get_resource_provider_trait(root).traits
    p.delete_resource_provider(child, ignore_missing=False)
    p.delete_resource_provider(root, ignore_missing=False)
    out["after_delete"] = sorted(rp.name for rp in p.resource_providers())
    return out


if __name__ == "__main__":
    print(json.dumps(run(sys.argv[1]), sort_keys=True))
