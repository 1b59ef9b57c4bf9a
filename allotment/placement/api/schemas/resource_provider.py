"""Schemas for /resource_providers."""

from copy import deepcopy
from typing import Any

from allotment.placement.api.schemas.common import NULLABLE_UUID, UUID

POST_PROVIDER: dict[str, Any] = {
    "type": "object",
    "properties": {"name": {"type": "string", "maxLength": 200}, "uuid": UUID},
    "required": ["name"],
    "additionalProperties": False,
}
PUT_PROVIDER = deepcopy(POST_PROVIDER)
del PUT_PROVIDER["properties"]["uuid"]

POST_PROVIDER_1_14 = deepcopy(POST_PROVIDER)
POST_PROVIDER_1_14["properties"]["parent_provider_uuid"] = NULLABLE_UUID
PUT_PROVIDER_1_14 = deepcopy(POST_PROVIDER_1_14)
del PUT_PROVIDER_1_14["properties"]["uuid"]

LIST_PROVIDERS_1_0: dict[str, Any] = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "uuid": UUID},
    "additionalProperties": False,
}
LIST_PROVIDERS_1_3 = deepcopy(LIST_PROVIDERS_1_0)
LIST_PROVIDERS_1_3["properties"]["member_of"] = {"type": "string"}
LIST_PROVIDERS_1_4 = deepcopy(LIST_PROVIDERS_1_3)
LIST_PROVIDERS_1_4["properties"]["resources"] = {"type": "string"}
LIST_PROVIDERS_1_14 = deepcopy(LIST_PROVIDERS_1_4)
LIST_PROVIDERS_1_14["properties"]["in_tree"] = UUID
LIST_PROVIDERS_1_18 = deepcopy(LIST_PROVIDERS_1_14)
LIST_PROVIDERS_1_18["properties"]["required"] = {"type": "string"}
