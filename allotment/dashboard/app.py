"""The dashboard's WSGI app: the static page (``static/``, no build step) and the JSON it draws.

    GET /                   the page (index.html, app.js, style.css under /static/)
    GET /api/summary        counts: hosts, providers, classes; where the data comes from
    GET /api/trees          provider trees with inventories and usage
    GET /api/heatmap        hosts by resource class: used / capacity
    GET /api/capacity       instances of each configured flavor that still fit, per zone
    GET /api/decisions      the scheduler's recent decisions with their reasons (GET /decisions)
    GET /api/simulation     the simulator's results file (allotment.simulation/1), as written
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import falcon
import httpx
import jsonschema
import orjson

from allotment.client import PlacementClient, PlacementError
from allotment.dashboard.fleet import DEFAULT_FLAVORS, FlavorSize, Snapshot, capacity, snapshot
from allotment.scheduler.client import SchedulerClient
from allotment.scheduler.errors import SchedulerError
from allotment.simulator.results_schema import RESULTS_SCHEMA, validate_results

__all__ = ["DashboardConfig", "create_app"]

FORMAT = RESULTS_SCHEMA["properties"]["format"]["const"]  # the simulator's results format

LOG = logging.getLogger(__name__)
STATIC = Path(__file__).with_name("static")
_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
          ".css": "text/css; charset=utf-8", ".png": "image/png", ".svg": "image/svg+xml"}


@dataclass
class DashboardConfig:
    flavors: list[FlavorSize] = field(default_factory=lambda: list(DEFAULT_FLAVORS))
    simulation: Path | None = None  # the simulator's JSON results file
    cache_seconds: float = 2.0  # one read of placement serves the page's several requests


class _Sources:
    """The clients, and the last snapshot (re-read after ``cache_seconds``)."""

    def __init__(self, placement: PlacementClient, scheduler: SchedulerClient | None, config: DashboardConfig) -> None:
        self.placement = placement
        self.scheduler = scheduler
        self.config = config
        self._lock = threading.Lock()
        self._snap: tuple[float, Snapshot] | None = None

    def snapshot(self) -> Snapshot:
        with self._lock:
            now = time.monotonic()
            if self._snap is None or now - self._snap[0] > self.config.cache_seconds:
                self._snap = (now, snapshot(self.placement, self.scheduler))
            return self._snap[1]


def _json(resp: falcon.Response, body: Any) -> None:
    resp.content_type = "application/json"
    resp.data = orjson.dumps(body)


def _unavailable(what: str, exc: Exception) -> falcon.HTTPError:
    return falcon.HTTPServiceUnavailable(title=f"{what} unavailable", description=f"{type(exc).__name__}: {exc}")


def _reading(what: str, fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except (PlacementError, SchedulerError, httpx.HTTPError) as exc:
        raise _unavailable(what, exc) from None


class Page:
    def on_get(self, req: falcon.Request, resp: falcon.Response, name: str = "index.html") -> None:
        path = (STATIC / name).resolve()
        if path.parent != STATIC.resolve() or not path.is_file() or path.suffix not in _TYPES:
            raise falcon.HTTPNotFound()
        resp.content_type = _TYPES[path.suffix]
        resp.data = path.read_bytes()


class Summary:
    def __init__(self, sources: _Sources) -> None:
        self.sources = sources

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        snap = _reading("placement", self.sources.snapshot)
        providers = sum(len(h.root.walk()) for h in snap.hosts)
        totals: dict[str, dict[str, float]] = {}
        for h in snap.hosts:
            for rc, t in h.totals().items():
                entry = totals.setdefault(rc, {"capacity": 0.0, "used": 0.0})
                entry["capacity"] += t["capacity"]
                entry["used"] += t["used"]
        _json(resp, {"hosts": len(snap.hosts), "providers": providers,
                     "disabled_hosts": sum(1 for h in snap.hosts if h.disabled),
                     "zones": sorted({h.zone for h in snap.hosts}), "totals": totals,
                     "scheduler": self.sources.scheduler is not None,
                     "simulation": self.sources.config.simulation is not None})


class Trees:
    def __init__(self, sources: _Sources) -> None:
        self.sources = sources

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        _json(resp, {"trees": _reading("placement", self.sources.snapshot).trees()})


class Heatmap:
    def __init__(self, sources: _Sources) -> None:
        self.sources = sources

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        _json(resp, _reading("placement", self.sources.snapshot).heatmap())


class Capacity:
    """Computed from placement's usages (``fleet.capacity``).

    Hook: once the scheduler answers ``GET /capacity`` (filters, traits, granular groups and
    sharing providers honoured), ask it here per flavor instead and keep the same answer shape.
    """

    def __init__(self, sources: _Sources) -> None:
        self.sources = sources

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        flavors = self.sources.config.flavors
        wanted = req.get_param("flavor")
        if wanted is not None:
            try:
                flavors = [FlavorSize.parse(wanted)]
            except ValueError as exc:
                raise falcon.HTTPBadRequest(title="bad flavor", description=str(exc)) from None
        _json(resp, capacity(_reading("placement", self.sources.snapshot), flavors))


class Decisions:
    def __init__(self, sources: _Sources) -> None:
        self.sources = sources

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        scheduler = self.sources.scheduler
        if scheduler is None:
            _json(resp, {"decisions": [], "note": "no scheduler configured (--scheduler-url)"})
            return
        _json(resp, {"decisions": _reading("scheduler", lambda: scheduler.recent_decisions(limit=50))})


class Simulation:
    """The simulator's results file (``allotment.simulation/1``), checked against its schema.

    A file that is missing, not JSON or not of that format is a 503 naming the file and what
    is wrong with it: the page cannot draw it, and it is the server's file, not the caller's.
    The file is parsed again only when its size or modification time changes.
    """

    def __init__(self, sources: _Sources) -> None:
        self.sources = sources
        self._lock = threading.Lock()
        self._cached: tuple[tuple[Path, int, int], Any] | None = None

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        path = self.sources.config.simulation
        if path is None:
            _json(resp, {"runs": [], "note": "no simulation results configured (--simulation FILE)"})
            return
        _json(resp, self._read(path))

    def _read(self, path: Path) -> Any:
        try:
            stat = path.stat()
        except OSError as exc:
            raise _bad_results(path, "simulation.missing", f"cannot be read: {exc.strerror or exc}") from None
        key = (path, stat.st_size, stat.st_mtime_ns)
        with self._lock:
            if self._cached is not None and self._cached[0] == key:
                return self._cached[1]
        try:
            document = orjson.loads(path.read_bytes())
        except OSError as exc:
            raise _bad_results(path, "simulation.missing", f"cannot be read: {exc.strerror or exc}") from None
        except orjson.JSONDecodeError as exc:
            raise _bad_results(path, "simulation.not_json", f"is not JSON: {exc}") from None
        try:
            validate_results(document)
        except jsonschema.ValidationError as exc:
            where = "/".join(str(p) for p in exc.absolute_path) or "the top level"
            raise _bad_results(path, "simulation.wrong_format",
                               f"is not a results file of format {FORMAT} (written by `allotment simulate`): "
                               f"at {where}: {exc.message}") from None
        with self._lock:
            self._cached = (key, document)
        return document


def _bad_results(path: Path, code: str, what: str) -> falcon.HTTPError:
    return falcon.HTTPServiceUnavailable(title="simulation results unreadable", description=f"{path} {what}",
                                         code=code)


def create_app(placement: PlacementClient, scheduler: SchedulerClient | None = None,
               config: DashboardConfig | None = None) -> falcon.App:
    sources = _Sources(placement, scheduler, config or DashboardConfig())
    app = falcon.App()
    app.add_route("/", Page())
    app.add_route("/static/{name}", Page())
    app.add_route("/api/summary", Summary(sources))
    app.add_route("/api/trees", Trees(sources))
    app.add_route("/api/heatmap", Heatmap(sources))
    app.add_route("/api/capacity", Capacity(sources))
    app.add_route("/api/decisions", Decisions(sources))
    app.add_route("/api/simulation", Simulation(sources))
    return app
