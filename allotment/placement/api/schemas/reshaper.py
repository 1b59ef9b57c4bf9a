"""Schemas for POST /reshaper (1.30; mappings from 1.34; consumer types from 1.38)."""

from copy import deepcopy

from allotment.placement.api.schemas import allocation, inventory

_UUID_KEY = "^[0-9a-fA-F-]{36}$"


def _reshaper(allocations_schema: dict[str, object]) -> dict[str, object]:
    allocs = deepcopy(allocations_schema)
    allocs["minProperties"] = 0
    return {
        "type": "object",
        "properties": {
            "inventories": {
                "type": "object",
                "patternProperties": {_UUID_KEY: inventory.PUT_INVENTORIES},
                "minProperties": 1,
                "additionalProperties": False,
            },
            "allocations": allocs,
        },
        "required": ["inventories", "allocations"],
        "additionalProperties": False,
    }


RESHAPER_1_30 = _reshaper(allocation.POST_ALLOCATIONS_1_28)
RESHAPER_1_34 = _reshaper(allocation.POST_ALLOCATIONS_1_34)
RESHAPER_1_38 = _reshaper(allocation.POST_ALLOCATIONS_1_38)
