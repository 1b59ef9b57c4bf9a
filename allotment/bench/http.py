"""HTTP plumbing shared by the workloads: headers, clients and a request recorder."""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

import httpx
import orjson

__all__ = ["HEADERS", "Recorder", "client", "server_info"]

#: What the upstream ``placeload`` tool and perf job send: noauth2 admin, newest microversion.
HEADERS = {
    "x-auth-token": "admin",
    "openstack-api-version": "placement latest",
    "accept": "application/json",
}

MAX_ERROR_SAMPLES = 5
MAX_ERROR_BODY = 600


def client(url: str, timeout: float = 120.0) -> httpx.Client:
    return httpx.Client(base_url=url, headers=HEADERS, timeout=timeout)


def server_info(url: str) -> dict[str, Any]:
    """What ``GET /`` says about the server (its microversion range), or the error."""
    try:
        with client(url, timeout=10.0) as c:
            resp = c.get("/")
        version = resp.json()["versions"][0]
        return {"min_version": version.get("min_version"), "max_version": version.get("max_version")}
    except (httpx.HTTPError, ValueError, KeyError, IndexError) as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}


class Recorder:
    """Thread-safe tally of requests: status counts, durations, the first few errors."""

    def __init__(self, keep_durations: bool = False) -> None:
        self._lock = threading.Lock()
        self.statuses: Counter[str] = Counter()
        self.errors: list[dict[str, Any]] = []
        self.durations: list[float] | None = [] if keep_durations else None

    def request(self, c: httpx.Client, method: str, path: str, body: Any = None) -> httpx.Response | None:
        """Send one request; return the response when it is 2xx, else None (after recording it)."""
        content = None if body is None else orjson.dumps(body)
        headers = None if body is None else {"content-type": "application/json"}
        start = time.perf_counter()
        try:
            resp = c.request(method, path, content=content, headers=headers)
        except httpx.HTTPError as exc:
            self._record(method, path, "transport", f"{type(exc).__name__}: {exc}", time.perf_counter() - start)
            return None
        elapsed = time.perf_counter() - start
        if 200 <= resp.status_code < 300:
            self._record(method, path, str(resp.status_code), None, elapsed)
            return resp
        self._record(method, path, str(resp.status_code), resp.text, elapsed)
        return None

    def _record(self, method: str, path: str, status: str, error: str | None, elapsed: float) -> None:
        with self._lock:
            self.statuses[status] += 1
            if self.durations is not None:
                self.durations.append(elapsed)
            if error is not None and len(self.errors) < MAX_ERROR_SAMPLES:
                self.errors.append({"method": method, "path": path, "status": status,
                                    "body": error[:MAX_ERROR_BODY]})

    @property
    def requests(self) -> int:
        return sum(self.statuses.values())

    @property
    def non_2xx(self) -> int:
        return sum(n for status, n in self.statuses.items() if not status.startswith("2"))

    def details(self) -> dict[str, Any]:
        return {"status_counts": dict(sorted(self.statuses.items())), "errors": list(self.errors)}
