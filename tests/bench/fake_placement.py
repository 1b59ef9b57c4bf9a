"""A tiny in-process stand-in for the parts of the Placement API the bench workloads touch.

It checks provider generations the way Placement does (409 on a stale one), so
the tests prove the workloads carry generations through their request chains.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class FakePlacement:
    def __init__(self, fail_every: int = 0) -> None:
        self.lock = threading.Lock()
        self.providers: dict[str, dict[str, Any]] = {}
        self.fail_every = fail_every  # every n-th traits PUT answers 500
        self.trait_puts = 0
        self.custom_traits: set[str] = set()

    def handle(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        with self.lock:
            if method == "GET" and path == "/":
                return 200, {"versions": [{"id": "v1.0", "min_version": "1.0", "max_version": "1.39"}]}
            if method == "POST" and path == "/resource_providers":
                if body["uuid"] in self.providers:
                    return 409, {"errors": [{"status": 409, "detail": "duplicate"}]}
                self.providers[body["uuid"]] = {"generation": 0, "inventories": {}, "aggregates": [], "traits": [],
                                                "parent": body.get("parent_provider_uuid")}
                return 200, {"uuid": body["uuid"], "name": body["name"], "generation": 0}
            m = re.fullmatch(r"/traits/(CUSTOM_[A-Z0-9_]+)", path)
            if method == "PUT" and m:
                created = m[1] not in self.custom_traits
                self.custom_traits.add(m[1])
                return (201 if created else 204), None
            m = re.fullmatch(r"/resource_providers/([0-9a-f-]+)", path)
            if method == "GET" and m:
                if m[1] not in self.providers:
                    return 404, {"errors": [{"status": 404}]}
                return 200, {"uuid": m[1], "name": m[1], "generation": self.providers[m[1]]["generation"]}
            m = re.fullmatch(r"/resource_providers/([0-9a-f-]+)/(inventories|aggregates|traits)", path)
            if method == "PUT" and m:
                rp = self.providers.get(m[1])
                if rp is None:
                    return 404, {"errors": [{"status": 404}]}
                if body["resource_provider_generation"] != rp["generation"]:
                    return 409, {"errors": [{"status": 409, "code": "placement.concurrent_update"}]}
                if m[2] == "traits":
                    self.trait_puts += 1
                    if self.fail_every and self.trait_puts % self.fail_every == 0:
                        return 500, {"errors": [{"status": 500, "detail": "database is locked"}]}
                rp[m[2]] = body[m[2]]
                rp["generation"] += 1
                return 200, {m[2]: body[m[2]], "resource_provider_generation": rp["generation"]}
            if method == "GET" and path.startswith("/allocation_candidates?"):
                limit = re.search(r"limit=(\d+)", path)
                matching = [u for u, rp in self.providers.items() if rp["inventories"]]
                if "member_of=" in path:
                    matching = [u for u in matching if "HW_CPU_X86_AVX2" in self.providers[u]["traits"]]
                if limit:
                    matching = matching[: int(limit[1])]
                return 200, {"allocation_requests": [{"allocations": {u: {}}} for u in matching],
                             "provider_summaries": {u: {} for u in matching}}
            return 404, {"errors": [{"status": 404}]}


@contextlib.contextmanager
def fake_placement(fail_every: int = 0) -> Iterator[tuple[str, FakePlacement]]:
    state = FakePlacement(fail_every)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out in two writes

        def _serve(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            status, payload = state.handle(self.command, self.path, body)
            data = b"" if payload is None else json.dumps(payload).encode()
            self.send_response(status)
            if data:
                self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = _serve

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
