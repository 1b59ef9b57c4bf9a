"""Schemas for provider inventories."""

from copy import deepcopy
from typing import Any

from allotment.placement.api.schemas.common import RC_PATTERN
from allotment.placement.domain.common import MAX_INT, SQL_SP_FLOAT_MAX


def _count(minimum: int) -> dict[str, object]:
    return {"type": "integer", "maximum": MAX_INT, "minimum": minimum}


INVENTORY: dict[str, Any] = {
    "type": "object",
    "properties": {
        "resource_provider_generation": {"type": "integer"},
        "total": _count(1),
        "reserved": _count(0),
        "min_unit": _count(1),
        "max_unit": _count(1),
        "step_size": _count(1),
        # The column is a single-precision float on MySQL: beyond this range in either direction the
        # database refuses the value (a 500), and a ratio near the double minimum overflowed the
        # capacity check itself.
        "allocation_ratio": {"type": "number", "minimum": -SQL_SP_FLOAT_MAX, "maximum": SQL_SP_FLOAT_MAX},
    },
    "required": ["total", "resource_provider_generation"],
    "additionalProperties": False,
}

POST_INVENTORY = deepcopy(INVENTORY)
POST_INVENTORY["properties"]["resource_class"] = {"type": "string", "pattern": RC_PATTERN}
POST_INVENTORY["required"] = ["total", "resource_class"]

INVENTORY_RECORD = deepcopy(INVENTORY)
INVENTORY_RECORD["required"] = ["total"]

PUT_INVENTORIES: dict[str, Any] = {
    "type": "object",
    "properties": {
        "resource_provider_generation": {"type": "integer"},
        # A key that is no class name is no schema error (upstream: "Unknown resource class"),
        # but its record is validated all the same.
        "inventories": {
            "type": "object",
            "patternProperties": {RC_PATTERN: INVENTORY_RECORD},
            "additionalProperties": INVENTORY_RECORD,
        },
    },
    "required": ["resource_provider_generation", "inventories"],
    "additionalProperties": False,
}

# For PUT /inventories: records under keys that are no class name are left to the handler,
# which checks them after the generation, as upstream reaches them only then.
PUT_INVENTORIES_KEYS_UNCHECKED = deepcopy(PUT_INVENTORIES)
PUT_INVENTORIES_KEYS_UNCHECKED["properties"]["inventories"]["additionalProperties"] = True
