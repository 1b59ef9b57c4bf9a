"""Schemas for GET /usages."""

from copy import deepcopy
from typing import Any

from allotment.placement.api.schemas.common import CONSUMER_TYPE_GET_PATTERN

_ID: dict[str, Any] = {"type": "string", "minLength": 1, "maxLength": 255}
USAGES_1_9: dict[str, Any] = {
    "type": "object",
    "properties": {"project_id": _ID, "user_id": _ID},
    "required": ["project_id"],
    "additionalProperties": False,
}
USAGES_1_38 = deepcopy(USAGES_1_9)
USAGES_1_38["properties"]["consumer_type"] = {
    "type": "string",
    "pattern": CONSUMER_TYPE_GET_PATTERN,
    "minLength": 1,
    "maxLength": 255,
}
