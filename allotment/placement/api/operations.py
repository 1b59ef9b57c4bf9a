"""``GET /metrics``, ``/healthz`` and ``/readyz``: for the operator's monitoring, not part of the Placement API.

Answered before authentication (a Prometheus scraper or a load balancer's health check has
no token) and outside the route table, so the API's route list, its OpenAPI document and
what the differential tester compares stay as upstream's.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import orjson

from allotment.infra import metrics as exposition
from allotment.infra.health import SchemaCheck, readiness
from allotment.placement.api.http import Response

if TYPE_CHECKING:
    from allotment.placement.api.app import PlacementApp

__all__ = ["OPERATIONS", "SCHEMA"]

SCHEMA = SchemaCheck("placement", Path(__file__).parents[1] / "store" / "migrations")


def _metrics(app: PlacementApp) -> Response:
    body, content_type = exposition.exposition([app.capacity_collector])
    return Response(200, body, [("content-type", content_type)])


def _healthz(app: PlacementApp) -> Response:
    return Response(200, orjson.dumps({"status": "alive"}), [("content-type", "application/json")])


def _readyz(app: PlacementApp) -> Response:
    state = readiness([(app.store, SCHEMA)])
    return Response(200 if state.ready else 503, orjson.dumps(state.body()), [("content-type", "application/json")])


OPERATIONS: dict[str, Callable[[PlacementApp], Response]] = {
    "/metrics": _metrics,
    "/healthz": _healthz,
    "/readyz": _readyz,
}
