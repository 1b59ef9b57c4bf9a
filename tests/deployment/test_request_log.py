"""A served process writes one JSON line per request to its log (``[logging] format`` or ``--log-format``)."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import httpx

from allotment.bench.servers import RunningServer, allotment_server, scheduler_server


def _line_for(server: RunningServer, request_id: str, timeout: float = 10.0) -> dict[str, Any]:
    """The JSON request line of ``request_id`` in the server's log (written just after the answer: wait a little)."""
    deadline = time.monotonic() + timeout
    while True:
        for text in (server.workdir / "server.log").read_text().splitlines():
            if request_id in text and text.startswith("{"):
                record = json.loads(text)
                if "status" in record:
                    return record
        assert time.monotonic() < deadline, (server.workdir / "server.log").read_text()[-3000:]
        time.sleep(0.1)


def test_served_placement_and_scheduler_log_json_request_lines() -> None:
    global_id = f"req-{uuid.uuid4()}"
    with allotment_server(workers=1, config_text='[logging]\nformat = "json"\nlevel = "info"\n') as placement:
        r = httpx.get(placement.url + "/resource_providers", headers={
            "x-auth-token": "admin", "openstack-api-version": "placement 1.20", "x-openstack-request-id": global_id})
        assert r.status_code == 200
        line = _line_for(placement, r.headers["x-openstack-request-id"])
        assert {k: line[k] for k in ("method", "route", "path", "status", "microversion", "global_request_id",
                                     "user_id", "project_id")} == {
            "method": "GET", "route": "/resource_providers", "path": "/resource_providers", "status": 200,
            "microversion": "1.20", "global_request_id": global_id, "user_id": "admin", "project_id": "admin"}
        assert line["time_ms"] >= 0 and line["level"] == "INFO"
    with scheduler_server(workers=1, extra_args=["--log-format", "json"]) as scheduler:
        r = httpx.get(scheduler.url + "/hosts", headers={"x-openstack-request-id": global_id})
        assert r.status_code == 200
        line = _line_for(scheduler, r.headers["x-openstack-request-id"])
        assert (line["route"], line["status"], line["global_request_id"]) == ("/hosts", 200, global_id)
