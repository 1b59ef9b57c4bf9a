"""Typed values the client returns."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["Allocations", "Inventory", "Provider"]


@dataclass(frozen=True)
class Provider:
    uuid: str
    name: str
    generation: int
    parent_provider_uuid: str | None = None
    root_provider_uuid: str | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Provider":
        return cls(
            uuid=data["uuid"],
            name=data["name"],
            generation=data["generation"],
            parent_provider_uuid=data.get("parent_provider_uuid"),
            root_provider_uuid=data.get("root_provider_uuid"),
        )


@dataclass(frozen=True)
class Inventory:
    total: int
    reserved: int = 0
    min_unit: int = 1
    max_unit: int = 2147483647
    step_size: int = 1
    allocation_ratio: float = 1.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Allocations:
    """A consumer's allocations: provider uuid -> {resource class: amount}."""

    allocations: dict[str, dict[str, int]] = field(default_factory=dict)
    project_id: str | None = None
    user_id: str | None = None
    consumer_generation: int | None = None
    consumer_type: str | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Allocations":
        return cls(
            allocations={rp: dict(v["resources"]) for rp, v in data.get("allocations", {}).items()},
            project_id=data.get("project_id"),
            user_id=data.get("user_id"),
            consumer_generation=data.get("consumer_generation"),
            consumer_type=data.get("consumer_type"),
        )
