"""GET /provider_graph: allotment's own extension route (upstream Placement has none).

The whole provider graph in one answer, from the worker's read model: per provider its
uuid, generation, parent and root, inventories with every capacity rule (``[total, reserved,
min_unit, max_unit, step_size, allocation_ratio]`` per class), usages, traits and aggregates. Placement's standard routes answer the same facts one provider at a time
(four requests per provider); a scheduler explaining a refusal or counting capacity over
10,000 hosts needs them at once. Nothing calls it unless it asks for it by name: clients
that speak only the upstream API never see it, and allotment's own client falls back to
the standard routes when a server answers 404 (an upstream Placement).
"""

from __future__ import annotations

from typing import Any

import orjson

from allotment.placement.api.http import Request, Response
from allotment.placement.api.util import handler
from allotment.placement.candidates.model import ProviderRecord, ReadModel

__all__ = ["INVENTORY_FIELDS", "POLICY", "show_provider_graph"]

POLICY = "placement:provider_graph:show"
INVENTORY_FIELDS = ("total", "reserved", "min_unit", "max_unit", "step_size", "allocation_ratio")

_KEY = ("provider_graph",)  # tuple keys on ProviderRecord.cache belong to handlers


def _fragment(model: ReadModel, rec: ProviderRecord) -> bytes:
    """One provider's entry, cached on its (immutable) record."""
    cached = rec.cache.get(_KEY)
    if cached is not None:
        return cached
    provs = model.providers
    parent = provs.get(rec.parent_id) if rec.parent_id is not None else None
    root = provs.get(rec.root_id)
    out: dict[str, Any] = {
        "uuid": rec.uuid,
        "generation": rec.generation,
        "parent_provider_uuid": parent.uuid if parent is not None else None,
        "root_provider_uuid": root.uuid if root is not None else rec.uuid,
        # Positional, in INVENTORY_FIELDS order: a third of the bytes of named fields at 10,000 providers.
        "inventories": {
            rc: [inv.total, inv.reserved, inv.min_unit, inv.max_unit, inv.step_size, inv.ratio]
            for rc, inv in rec.inv.items()
        },
        "usages": {rc: n for rc, n in rec.used.items() if n},
        "traits": list(rec.trait_list),
        "aggregates": sorted(rec.aggs),
    }
    fragment = orjson.dumps(out)
    if len(rec.cache) > 32:
        rec.cache.clear()
    rec.cache[_KEY] = fragment
    return fragment


@handler(accept_json=True)
def show_provider_graph(req: Request) -> Response:
    req.context.can(POLICY)
    model: ReadModel = req.app.read_model
    model.refresh()
    with model.lock:
        parts = [_fragment(model, rec) for rec in model.providers.values()]
    body = b'{"providers":[' + b",".join(parts) + b"]}"
    return Response(200, body, [("content-type", "application/json")])
