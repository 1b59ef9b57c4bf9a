"""/metrics under gunicorn with several workers: every worker's requests are in the one answer."""

from __future__ import annotations

from pathlib import Path

import httpx

from allotment.bench.servers import allotment_server, scheduler_server
from tests.metrics_text import Scrape

REQUESTS = 30


def _hit(url: str, path: str) -> None:
    # A new connection each time, so the kernel spreads them over the workers.
    for _ in range(REQUESTS):
        assert httpx.get(url + path, headers={"x-auth-token": "admin"}).status_code == 200


def test_placement_workers_add_up(tmp_path: Path) -> None:
    metrics_dir = tmp_path / "metrics"
    with allotment_server(workers=2, env={"PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}) as server:
        _hit(server.url, "/resource_providers")
        s = Scrape(httpx.get(server.url + "/metrics").text)
        assert s.total("allotment_placement_requests_total", route="/resource_providers") == REQUESTS
        # One file of values per worker that answered, in the directory the operator named.
        workers = {p.name.rsplit("_", 1)[1] for p in metrics_dir.glob("counter_*.db")}
        assert len(workers) >= 1, workers
        assert httpx.get(server.url + "/readyz").status_code == 200


def test_scheduler_workers_add_up_in_a_directory_of_their_own() -> None:
    with scheduler_server(workers=2) as server:
        _hit(server.url, "/hosts")
        s = Scrape(httpx.get(server.url + "/metrics").text)
        assert s.total("allotment_scheduler_requests_total", route="/hosts") == REQUESTS
        assert httpx.get(server.url + "/readyz").json()["status"] == "ready"
