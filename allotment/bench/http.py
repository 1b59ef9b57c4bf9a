"""HTTP plumbing shared by the workloads: headers, a lean client and a request recorder.

The client is a thin layer over :mod:`http.client` rather than httpx: on a
small machine the benchmark client shares the cores with the server it
measures, and httpx spends about three times the CPU per request (measured
here: ~1.2 ms against ~0.36 ms per request with a new connection each time,
which is what gunicorn's sync workers impose). Connections are kept alive
when the server allows it.
"""

from __future__ import annotations

import http.client
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import orjson

__all__ = ["HEADERS", "Client", "Recorder", "Response", "server_info"]

#: What the upstream ``placeload`` tool and perf job send: noauth2 admin, newest microversion.
HEADERS = {
    "x-auth-token": "admin",
    "openstack-api-version": "placement latest",
    "accept": "application/json",
}

MAX_ERROR_SAMPLES = 5
MAX_ERROR_BODY = 600
TRANSPORT_ERRORS = (OSError, http.client.HTTPException)


@dataclass(frozen=True)
class Response:
    status_code: int
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return orjson.loads(self.content)


class Client:
    """One connection to ``url`` at a time, reused while the server keeps it open. Not thread-safe."""

    def __init__(self, url: str, timeout: float = 300.0) -> None:
        parts = urlsplit(url)
        self._cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port
        self._prefix = parts.path.rstrip("/")
        self._timeout = timeout
        self._conn: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, body: Any = None) -> Response:
        headers = dict(HEADERS)
        content = None
        if body is not None:
            content = orjson.dumps(body)
            headers["content-type"] = "application/json"
        reused = self._conn is not None
        try:
            return self._send(method, self._prefix + path, content, headers)
        except TRANSPORT_ERRORS:
            self.close()
            if not reused:
                raise
        # The server dropped an idle kept-alive connection: once more on a new one.
        return self._send(method, self._prefix + path, content, headers)

    def _send(self, method: str, path: str, content: bytes | None, headers: dict[str, str]) -> Response:
        if self._conn is None:
            self._conn = self._cls(self._host, self._port, timeout=self._timeout)
        self._conn.request(method, path, body=content, headers=headers)
        resp = self._conn.getresponse()
        data = resp.read()
        if resp.will_close:
            self.close()
        return Response(resp.status, data)

    def get(self, path: str) -> Response:
        return self.request("GET", path)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def server_info(url: str) -> dict[str, Any]:
    """What ``GET /`` says about the server (its microversion range), or the error."""
    try:
        with Client(url, timeout=10.0) as c:
            version = c.get("/").json()["versions"][0]
        return {"min_version": version.get("min_version"), "max_version": version.get("max_version")}
    except (*TRANSPORT_ERRORS, ValueError, KeyError, IndexError, TypeError) as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}


class Recorder:
    """Thread-safe tally of requests: status counts, durations, the first few errors."""

    def __init__(self, keep_durations: bool = False) -> None:
        self._lock = threading.Lock()
        self.statuses: Counter[str] = Counter()
        self.errors: list[dict[str, Any]] = []
        self.durations: list[float] | None = [] if keep_durations else None

    def request(self, c: Client, method: str, path: str, body: Any = None) -> Response | None:
        """Send one request; return the response when it is 2xx, else None (after recording it)."""
        resp = self.exchange(c, method, path, body)
        return resp if resp is not None and 200 <= resp.status_code < 300 else None

    def exchange(self, c: Client, method: str, path: str, body: Any = None) -> Response | None:
        """Send one request and record it; return the response whatever its status (None: transport error)."""
        start = time.perf_counter()
        try:
            resp = c.request(method, path, body)
        except TRANSPORT_ERRORS as exc:
            self._record(method, path, "transport", f"{type(exc).__name__}: {exc}", time.perf_counter() - start)
            return None
        elapsed = time.perf_counter() - start
        ok = 200 <= resp.status_code < 300
        self._record(method, path, str(resp.status_code), None if ok else resp.text, elapsed)
        return resp

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
