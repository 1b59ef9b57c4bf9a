"""Clients of the placement API: ``connect(url)`` over HTTP, ``direct(db_url)`` in-process."""

from allotment.client.client import DEFAULT_MICROVERSION, PlacementClient, connect, direct
from allotment.client.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    GenerationConflict,
    InventoryInUse,
    NotFound,
    PlacementError,
    ServerError,
)
from allotment.client.models import Allocations, Inventory, Provider

__all__ = [
    "DEFAULT_MICROVERSION",
    "Allocations",
    "BadRequest",
    "Conflict",
    "Forbidden",
    "GenerationConflict",
    "Inventory",
    "InventoryInUse",
    "NotFound",
    "PlacementClient",
    "PlacementError",
    "Provider",
    "ServerError",
    "connect",
    "direct",
]
