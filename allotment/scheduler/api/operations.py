"""``GET /metrics``, ``/healthz`` and ``/readyz`` on the scheduler: for monitoring, outside the API's route list.

``/readyz`` checks the registry's database answers and its schema is the code's.
"""

from __future__ import annotations

from pathlib import Path

import falcon
import orjson

from allotment.infra import metrics as exposition
from allotment.infra.health import SchemaCheck, readiness
from allotment.scheduler.metrics import RegistryCollector
from allotment.scheduler.registry import Registry

__all__ = ["PATHS", "routes"]

PATHS = frozenset({"/metrics", "/healthz", "/readyz"})
SCHEMA = SchemaCheck("registry", Path(__file__).parents[1] / "registry" / "migrations",
                     version_table="sched_alembic_version")


class Metrics:
    def __init__(self, registry: Registry) -> None:
        self.collector = RegistryCollector(registry)

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        body, content_type = exposition.exposition([self.collector])
        resp.content_type = content_type
        resp.data = body


class Healthz:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type = "application/json"
        resp.data = orjson.dumps({"status": "alive"})


class Readyz:
    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        state = readiness([(self.registry.db, SCHEMA)])
        resp.status = 200 if state.ready else 503
        resp.content_type = "application/json"
        resp.data = orjson.dumps(state.body())


def routes(registry: Registry) -> list[tuple[str, object]]:
    return [("/metrics", Metrics(registry)), ("/healthz", Healthz()), ("/readyz", Readyz(registry))]
