"""The scheduler's Prometheus metrics (``allotment_scheduler_`` prefix).

- ``requests_total{route,method,status}``, ``request_errors_total{route,method,status}`` and
  ``request_duration_seconds{route,method}``: every API request, by URI template
  (the scheduler's API has no microversions);
- ``decisions_total{kind,outcome}``: boots and moves, ``placed``, ``no_valid_host`` or ``error``;
- ``phase_seconds{kind,phase}``: each decision's time per phase (request filters, placement
  query, host states, filtering, weighing, claim, total), from the cycle's timings;
- ``hosts_considered{kind}``: hosts placement offered per decision;
- ``claims_total{outcome}``: claims tried in placement: ``claimed``, ``conflict`` (409
  concurrent_update: lost a race, the next candidate is tried), ``stale`` (a provider or class
  went away) and ``group_refused``; ``claim_retries_total{kind}``: claims tried after an earlier
  claim of the same decision was refused;
- from the registry when scraped: ``hosts{availability_zone,state}`` (state ``up``, ``down``,
  ``disabled``) and ``aggregate_info{aggregate,name,availability_zone}`` = 1, to join
  placement's ``capacity_*_by_aggregate`` gauges to zones in PromQL.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from allotment.infra.metrics import LATENCY_BUCKETS
from allotment.scheduler.registry import Registry

__all__ = ["RegistryCollector", "observe_claim", "observe_decision", "observe_request"]

LOG = logging.getLogger(__name__)

_P = "allotment_scheduler_"
NO_ZONE = ""  # hosts in no aggregate with an availability_zone
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

REQUESTS = Counter(_P + "requests", "API requests answered.", ["route", "method", "status"])
ERRORS = Counter(_P + "request_errors", "API requests answered with a status of 400 or above.",
                 ["route", "method", "status"])
LATENCY = Histogram(_P + "request_duration_seconds", "Time to answer an API request.", ["route", "method"],
                    buckets=LATENCY_BUCKETS)
DECISIONS = Counter(_P + "decisions", "Scheduling decisions, by kind and outcome.", ["kind", "outcome"])
PHASES = Histogram(_P + "phase_seconds", "Time per phase of a scheduling decision.", ["kind", "phase"],
                   buckets=LATENCY_BUCKETS)
CONSIDERED = Histogram(_P + "hosts_considered", "Hosts placement offered per decision.", ["kind"],
                       buckets=(0, 1, 5, 10, 50, 100, 500, 1000, 5000, 10000, 50000))
CLAIMS = Counter(_P + "claims", "Claims tried in placement, by outcome.", ["outcome"])
RETRIES = Counter(_P + "claim_retries", "Claims tried after an earlier claim of the same decision was refused.",
                  ["kind"])


def observe_request(route: str | None, method: str, status: int, seconds: float) -> None:
    route = route or "unmatched"
    method = method if method in _METHODS else "other"  # any token is a method: keep the label set bounded
    REQUESTS.labels(route, method, str(status)).inc()
    LATENCY.labels(route, method).observe(seconds)
    if status >= 400:
        ERRORS.labels(route, method, str(status)).inc()


def observe_decision(kind: str, outcome: str, timings: dict[str, float], hosts_considered: int) -> None:
    DECISIONS.labels(kind, outcome).inc()
    for phase, seconds in timings.items():
        PHASES.labels(kind, phase).observe(seconds)
    CONSIDERED.labels(kind).observe(hosts_considered)


def observe_claim(kind: str, outcome: str, *, retry: bool) -> None:
    CLAIMS.labels(outcome).inc()
    if retry:
        RETRIES.labels(kind).inc()


class RegistryCollector(Collector):
    """Hosts per zone and state, and which zone each aggregate names; read from the registry when scraped."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def collect(self) -> Iterable[Metric]:
        up = GaugeMetricFamily(_P + "registry_up", "1 when the registry gauges could be read from the database.")
        try:
            aggregates = self.registry.list_aggregates()
            hosts = self.registry.list_hosts()
        except Exception:
            LOG.warning("registry gauges not collected: the registry cannot be read", exc_info=True)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        info = GaugeMetricFamily(_P + "aggregate_info", "Host aggregates: uuid, name and availability zone.",
                                 labels=["aggregate", "name", "availability_zone"])
        zone_of: dict[str, str] = {}
        for agg in aggregates:
            zone = agg.metadata.get("availability_zone") or NO_ZONE
            info.add_metric([agg.uuid, agg.name, zone], 1)
            for member in agg.hosts:
                if zone != NO_ZONE:
                    zone_of.setdefault(member, zone)
        counts: dict[tuple[str, str], int] = {}
        for host in hosts:
            state = "disabled" if host.disabled else ("up" if host.up else "down")
            key = (zone_of.get(host.name, NO_ZONE), state)
            counts[key] = counts.get(key, 0) + 1
        gauge = GaugeMetricFamily(_P + "hosts", "Registered hosts by availability zone and state.",
                                  labels=["availability_zone", "state"])
        for (zone, state), n in sorted(counts.items()):
            gauge.add_metric([zone, state], n)
        yield info
        yield gauge
