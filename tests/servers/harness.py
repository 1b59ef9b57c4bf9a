"""A whole servers flow in the test's process, reached through its REST API, and the checks every test makes.

    with open_harness(db_url, computes={"cn1": HostInventory.simple()}) as h:
        server = h.create("web")
        h.wait_for(server, "ACTIVE")
        h.check_usages()     # placement holds exactly what live servers and open migrations should
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Mapping
from typing import Any

import httpx

from allotment.servers.audit import expected_usage
from allotment.servers.cloud import Cloud
from allotment.servers.compute import FakeDriver, HostInventory

SMALL = {"name": "small", "vcpus": 1, "memory_mb": 512, "root_gb": 1}
LARGE = {"name": "large", "vcpus": 2, "memory_mb": 1024, "root_gb": 2}
SETTLED = ("ACTIVE", "ERROR", "VERIFY_RESIZE", "DELETED")


class Harness:
    def __init__(self, cloud: Cloud) -> None:
        self.cloud = cloud
        self.http = httpx.Client(transport=httpx.WSGITransport(app=cloud.app), base_url="http://compute",
                                 headers={"x-auth-token": "alice:demo"})

    def create(self, name: str = "web", flavor: Mapping[str, Any] = SMALL, **extra: Any) -> dict[str, Any]:
        resp = self.http.post("/servers", json={"server": {"name": name, "flavor": dict(flavor), **extra}})
        assert resp.status_code == 202, resp.text
        return dict(resp.json())

    def show(self, uuid: str) -> dict[str, Any]:
        resp = self.http.get(f"/servers/{uuid}")
        assert resp.status_code == 200, resp.text
        return dict(resp.json()["server"])

    def action(self, uuid: str, body: Mapping[str, Any], status: int = 202) -> httpx.Response:
        resp = self.http.post(f"/servers/{uuid}/action", json=dict(body))
        assert resp.status_code == status, resp.text
        return resp

    def wait_for(self, uuid: str, *statuses: str, timeout: float = 30.0) -> dict[str, Any]:
        """The server once its status is one of ``statuses`` and no task runs (AssertionError on timeout)."""
        deadline = time.monotonic() + timeout
        while True:
            server = self.show(uuid)
            if server["status"] in statuses and server["task_state"] is None:
                return server
            assert time.monotonic() < deadline, f"{uuid} still {server['status']}/{server['task_state']}"
            time.sleep(0.02)

    def wait_settled(self, uuid: str) -> dict[str, Any]:
        return self.wait_for(uuid, *SETTLED)

    def usages(self) -> dict[str, dict[str, int]]:
        """Root provider -> what placement says is used on its tree."""
        out = {}
        for root in self.cloud.host_roots().values():
            used: dict[str, int] = {}
            for p in self.cloud.placement.list_providers(in_tree=root):
                for rc, n in self.cloud.placement.provider_usages(p.uuid).items():
                    if n:
                        used[rc] = used.get(rc, 0) + n
            out[root] = used
        return out

    def check_usages(self) -> None:
        """Placement holds what the live servers and open migrations should, and the audit finds nothing."""
        roots = self.cloud.host_roots()
        expected = expected_usage(self.cloud.store, roots)
        assert self.usages() == {root: expected.get(root, {}) for root in roots.values()}
        assert self.cloud.audit().findings == []

    def host_usage(self, host: str) -> dict[str, int]:
        return self.usages()[self.cloud.host_roots()[host]]


@contextlib.contextmanager
def open_harness(db_url: str, *, computes: Mapping[str, HostInventory] | None = None,
                 drivers: Mapping[str, FakeDriver] | None = None, **options: Any) -> Iterator[Harness]:
    with Cloud.open(db_url, **options) as cloud:
        for name, inventory in (computes or {}).items():
            cloud.add_compute(name, inventory, driver=(drivers or {}).get(name))
        h = Harness(cloud)
        try:
            yield h
        finally:
            h.http.close()
