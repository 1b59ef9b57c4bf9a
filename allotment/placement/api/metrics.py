"""Placement's Prometheus metrics, and the capacity gauges computed from the database at scrape time.

Names (``allotment_placement_`` prefix):

- ``requests_total{route,method,microversion,status}`` and
  ``request_duration_seconds{route,method,microversion}``: every request, by URL template
  (``unmatched`` for a 404 path or an answer before routing, a 401 say) and negotiated microversion
  (``none`` before negotiation);
- ``request_errors_total{route,method,microversion,status}``: answers of 400 and above;
- ``concurrent_update_conflicts_total{route}``: 409s with ``placement.concurrent_update``
  (a claim or write that lost a generation race; the client retries);
- ``allocation_candidates{microversion}``: candidates per ``GET /allocation_candidates`` answer;
- ``read_model_refresh_seconds{kind}`` and ``read_model_changes_applied_total{kind}``: how
  long a query waited for the worker's read model to catch up with the database, and how many
  changes that applied (kind ``full``, ``incremental`` or ``current``);
- capacity (from the database when scraped): ``capacity_total``, ``capacity_reserved``,
  ``capacity_usable`` ((total - reserved) * ratio), ``capacity_used`` and ``capacity_providers``,
  each ``{resource_class}``, and the same with ``_by_aggregate{resource_class,aggregate}``;
  ``capacity_up`` is 0 when the database could not be read.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from allotment.infra.database import Database
from allotment.infra.metrics import LATENCY_BUCKETS
from allotment.placement.domain.capacity_totals import fleet_totals

__all__ = ["CapacityCollector", "observe_candidates", "observe_refresh", "observe_request"]

LOG = logging.getLogger(__name__)

_P = "allotment_placement_"

REQUESTS = Counter(_P + "requests", "Requests answered.", ["route", "method", "microversion", "status"])
ERRORS = Counter(_P + "request_errors", "Requests answered with a status of 400 or above.",
                 ["route", "method", "microversion", "status"])
LATENCY = Histogram(_P + "request_duration_seconds", "Time to answer a request.",
                    ["route", "method", "microversion"], buckets=LATENCY_BUCKETS)
CONFLICTS = Counter(_P + "concurrent_update_conflicts",
                    "409 placement.concurrent_update answers: a write lost a generation race.", ["route"])
CANDIDATES = Histogram(_P + "allocation_candidates", "Allocation candidates per GET /allocation_candidates answer.",
                       ["microversion"], buckets=(0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000, 10000))
REFRESH = Histogram(_P + "read_model_refresh_seconds",
                    "Time a candidates query waited for the worker's read model to catch up with the database.",
                    ["kind"], buckets=LATENCY_BUCKETS)
CHANGES = Counter(_P + "read_model_changes_applied", "Database changes the read model applied, by kind of refresh.",
                  ["kind"])

_CONFLICT_CODE = b'"placement.concurrent_update"'
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


# Label lookups cost more than the increments: each (route, method, version, status) keeps its children.
_CHILDREN: dict[tuple[str, str, str, int], tuple[Any, Any, Any]] = {}


def observe_request(route: str | None, method: str, microversion: str | None, status: int, seconds: float,
                    body: bytes) -> None:
    method = method if method in _METHODS else "other"  # any token is a method: keep the label set bounded
    key = (route or "unmatched", method, microversion or "none", status)
    children = _CHILDREN.get(key)
    if children is None:
        labels = (key[0], method, key[2])
        error = ERRORS.labels(*labels, str(status)) if status >= 400 else None
        children = _CHILDREN[key] = (REQUESTS.labels(*labels, str(status)), LATENCY.labels(*labels), error)
    requests, latency, errors = children
    requests.inc()
    latency.observe(seconds)
    if errors is not None:
        errors.inc()
        if status == 409 and _CONFLICT_CODE in body:
            CONFLICTS.labels(key[0]).inc()


def observe_candidates(microversion: str, count: int) -> None:
    CANDIDATES.labels(microversion).observe(count)


def observe_refresh(kind: str, seconds: float, changes: int) -> None:
    REFRESH.labels(kind).observe(seconds)
    if changes:
        CHANGES.labels(kind).inc(changes)


class CapacityCollector(Collector):
    """Per resource class (and per aggregate): total, reserved, usable, used, providers; read when scraped."""

    def __init__(self, store: Database) -> None:
        self.store = store

    def collect(self) -> Iterable[Metric]:
        up = GaugeMetricFamily(f"{_P}capacity_up", "1 when the capacity gauges could be read from the database.")
        try:
            with self.store.read() as conn:
                rows = fleet_totals(conn)
        except Exception:  # the database is down: the request metrics are still worth scraping
            LOG.warning("capacity gauges not collected: the database cannot be read", exc_info=True)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        fields = (("total", "Inventory total."), ("reserved", "Inventory reserved."),
                  ("usable", "(total - reserved) * allocation_ratio."), ("used", "Allocated."),
                  ("providers", "Providers with inventory of the class."))
        fleet = {f: GaugeMetricFamily(f"{_P}capacity_{f}", doc, labels=["resource_class"]) for f, doc in fields}
        by_agg = {f: GaugeMetricFamily(f"{_P}capacity_{f}_by_aggregate", doc + " Providers in the aggregate "
                                       "(nested ones by their root's aggregates).",
                                       labels=["resource_class", "aggregate"]) for f, doc in fields}
        for row in rows:
            values = {"total": row.total, "reserved": row.reserved, "usable": row.capacity, "used": row.used,
                      "providers": row.providers}
            for f, value in values.items():
                if row.aggregate is None:
                    fleet[f].add_metric([row.resource_class], value)
                else:
                    by_agg[f].add_metric([row.resource_class, row.aggregate], value)
        yield from fleet.values()
        yield from by_agg.values()
