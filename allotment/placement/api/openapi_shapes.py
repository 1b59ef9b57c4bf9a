"""JSON schemas of the placement API's response bodies, per microversion where they change.

Hand-written: the handlers build their answers in code, not from schemas. Each shape
is strict (``additionalProperties: false``, every field the handler always sends is
required) so the microversion branches of one answer exclude each other and a field
added or dropped by mistake is caught by the checks over the document.
"""

from __future__ import annotations

from copy import deepcopy
from typing import Any

from allotment.placement.api.schemas.common import RC_PATTERN

__all__ = ["SHAPES"]

_INT = {"type": "integer"}
_STR = {"type": "string"}
_UUID = {"type": "string", "format": "uuid"}
_NULLABLE_UUID = {"type": ["string", "null"], "format": "uuid"}


def _object(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties) if required is None else required,
        "additionalProperties": False,
    }


def _map(values: dict[str, Any], keys: str | None = None) -> dict[str, Any]:
    """An object whose keys are data (provider uuids, class names), each value of one shape."""
    out: dict[str, Any] = {"type": "object", "additionalProperties": values}
    if keys is not None:
        out["propertyNames"] = {"pattern": keys}
    return out


LINKS = {"type": "array", "items": _object({"rel": _STR, "href": _STR})}

VERSIONS = _object(
    {
        "versions": {
            "type": "array",
            "items": _object(
                {
                    "id": _STR,
                    "max_version": _STR,
                    "min_version": _STR,
                    "status": {"enum": ["CURRENT"]},
                    "links": LINKS,
                }
            ),
        }
    }
)

RESOURCE_CLASS = _object({"name": _STR, "links": LINKS})
RESOURCE_CLASSES = _object({"resource_classes": {"type": "array", "items": RESOURCE_CLASS}})

PROVIDER_1_0 = _object({"uuid": _UUID, "name": _STR, "generation": _INT, "links": LINKS})
PROVIDER_1_14 = deepcopy(PROVIDER_1_0)
PROVIDER_1_14["properties"].update(parent_provider_uuid=_NULLABLE_UUID, root_provider_uuid=_UUID)
PROVIDER_1_14["required"] += ["parent_provider_uuid", "root_provider_uuid"]

INVENTORY = _object(
    {
        "total": _INT,
        "reserved": _INT,
        "min_unit": _INT,
        "max_unit": _INT,
        "step_size": _INT,
        "allocation_ratio": {"type": "number"},
    }
)
# One inventory answers with the provider generation, except a provider still at generation 0.
ONE_INVENTORY = deepcopy(INVENTORY)
ONE_INVENTORY["properties"]["resource_provider_generation"] = _INT
INVENTORIES = _object({"resource_provider_generation": _INT, "inventories": _map(INVENTORY, RC_PATTERN)})

PROVIDER_USAGES = _object({"resource_provider_generation": _INT, "usages": _map(_INT, RC_PATTERN)})

AGGREGATES_1_1 = _object({"aggregates": {"type": "array", "items": _UUID}})
AGGREGATES_1_19 = _object({"aggregates": {"type": "array", "items": _UUID}, "resource_provider_generation": _INT})

_RESOURCES = _map(_INT, RC_PATTERN)
PROVIDER_ALLOCATIONS_1_0 = _object(
    {
        "allocations": _map(_object({"resources": _RESOURCES})),
        "resource_provider_generation": _INT,
    }
)
PROVIDER_ALLOCATIONS_1_28 = _object(
    {
        "allocations": _map(_object({"resources": _RESOURCES, "consumer_generation": _INT})),
        "resource_provider_generation": _INT,
    }
)

_BY_PROVIDER = _map(_object({"resources": _RESOURCES, "generation": _INT}))
# A consumer without allocations answers {"allocations": {}} at every version.
CONSUMER_ALLOCATIONS_1_0 = _object({"allocations": _BY_PROVIDER})
CONSUMER_ALLOCATIONS_1_12 = _object(
    {"allocations": _BY_PROVIDER, "project_id": _STR, "user_id": _STR}, ["allocations"]
)
CONSUMER_ALLOCATIONS_1_28 = deepcopy(CONSUMER_ALLOCATIONS_1_12)
CONSUMER_ALLOCATIONS_1_28["properties"]["consumer_generation"] = _INT
CONSUMER_ALLOCATIONS_1_38 = deepcopy(CONSUMER_ALLOCATIONS_1_28)
CONSUMER_ALLOCATIONS_1_38["properties"]["consumer_type"] = _STR

TRAITS = _object({"traits": {"type": "array", "items": _STR}})
PROVIDER_TRAITS = _object({"traits": {"type": "array", "items": _STR}, "resource_provider_generation": _INT})

USAGES_1_9 = _object({"usages": _map(_INT, RC_PATTERN)})
USAGES_1_38 = _object(
    {"usages": _map({"type": "object", "properties": {"consumer_count": _INT}, "additionalProperties": _INT})}
)

_SUMMARY_RESOURCES = _map(_object({"capacity": _INT, "used": _INT}), RC_PATTERN)
SUMMARY_1_10 = _object({"resources": _SUMMARY_RESOURCES})
SUMMARY_1_17 = _object({"resources": _SUMMARY_RESOURCES, "traits": {"type": "array", "items": _STR}})
SUMMARY_1_29 = deepcopy(SUMMARY_1_17)
SUMMARY_1_29["properties"].update(parent_provider_uuid=_NULLABLE_UUID, root_provider_uuid=_UUID)
SUMMARY_1_29["required"] += ["parent_provider_uuid", "root_provider_uuid"]

REQUEST_1_10 = _object(
    {
        "allocations": {
            "type": "array",
            "items": _object({"resource_provider": _object({"uuid": _UUID}), "resources": _RESOURCES}),
        }
    }
)
REQUEST_1_12 = _object({"allocations": _map(_object({"resources": _RESOURCES}))})
REQUEST_1_34 = _object(
    {
        "allocations": _map(_object({"resources": _RESOURCES})),
        "mappings": _map({"type": "array", "items": _UUID}),
    },
    ["allocations"],
)


def _candidates(request: dict[str, Any], summary: dict[str, Any]) -> dict[str, Any]:
    return _object(
        {"allocation_requests": {"type": "array", "items": request}, "provider_summaries": _map(summary)}
    )


CANDIDATES_1_10 = _candidates(REQUEST_1_10, SUMMARY_1_10)
CANDIDATES_1_12 = _candidates(REQUEST_1_12, SUMMARY_1_10)
CANDIDATES_1_17 = _candidates(REQUEST_1_12, SUMMARY_1_17)
CANDIDATES_1_29 = _candidates(REQUEST_1_12, SUMMARY_1_29)
CANDIDATES_1_34 = _candidates(REQUEST_1_34, SUMMARY_1_29)

# Every shape by the name it has under components/schemas.
SHAPES: dict[str, dict[str, Any]] = {
    "Versions": VERSIONS,
    "ResourceClass": RESOURCE_CLASS,
    "ResourceClasses": RESOURCE_CLASSES,
    "Provider_1_0": PROVIDER_1_0,
    "Provider_1_14": PROVIDER_1_14,
    "Inventory": INVENTORY,
    "OneInventory": ONE_INVENTORY,
    "Inventories": INVENTORIES,
    "ProviderUsages": PROVIDER_USAGES,
    "Aggregates_1_1": AGGREGATES_1_1,
    "Aggregates_1_19": AGGREGATES_1_19,
    "ProviderAllocations_1_0": PROVIDER_ALLOCATIONS_1_0,
    "ProviderAllocations_1_28": PROVIDER_ALLOCATIONS_1_28,
    "ConsumerAllocations_1_0": CONSUMER_ALLOCATIONS_1_0,
    "ConsumerAllocations_1_12": CONSUMER_ALLOCATIONS_1_12,
    "ConsumerAllocations_1_28": CONSUMER_ALLOCATIONS_1_28,
    "ConsumerAllocations_1_38": CONSUMER_ALLOCATIONS_1_38,
    "Traits": TRAITS,
    "ProviderTraits": PROVIDER_TRAITS,
    "Usages_1_9": USAGES_1_9,
    "Usages_1_38": USAGES_1_38,
    "AllocationCandidates_1_10": CANDIDATES_1_10,
    "AllocationCandidates_1_12": CANDIDATES_1_12,
    "AllocationCandidates_1_17": CANDIDATES_1_17,
    "AllocationCandidates_1_29": CANDIDATES_1_29,
    "AllocationCandidates_1_34": CANDIDATES_1_34,
}
