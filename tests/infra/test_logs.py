"""One log line per request, as text or JSON, for placement and the scheduler API (in-process apps).

Every line names the request (method, route template, path, status, time, microversion, request id, the caller's
global request id when it is a valid ``req-<uuid>``, user and project); every record logged while a request is
served carries its ids, so a 5xx's traceback can be found from the request id the client got.
"""

from __future__ import annotations

import io
import json
import logging
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from allotment.bench.databases import fresh_database
from allotment.infra.database import Database
from allotment.infra.logs import LogSettings, make_handler
from allotment.placement.api.app import make_app
from allotment.placement.config import Config
from allotment.placement.schema import upgrade
from allotment.scheduler.api.app import create_app
from allotment.scheduler.registry import Registry

GLOBAL_ID = f"req-{uuid.uuid4()}"
ADMIN = {"x-auth-token": "admin", "openstack-api-version": "placement 1.39"}


class Captured:
    def __init__(self, stream: io.StringIO) -> None:
        self.stream = stream

    def lines(self) -> list[str]:
        return [line for line in self.stream.getvalue().splitlines() if line.strip()]

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.lines()]

    def request_lines(self) -> list[dict[str, Any]]:
        return [r for r in self.records() if "status" in r]


@pytest.fixture
def capture(request: pytest.FixtureRequest) -> Iterator[Captured]:
    """Lines the ``allotment`` loggers write, in the format the test is parametrised with (JSON by default)."""
    fmt = getattr(request, "param", "json")
    stream = io.StringIO()
    handler = make_handler(fmt, stream)
    logger = logging.getLogger("allotment")
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield Captured(stream)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


@pytest.fixture
def db_url() -> Iterator[str]:
    with fresh_database("sqlite") as url:
        yield url


@pytest.fixture
def placement(db_url: str) -> Iterator[tuple[httpx.Client, Database]]:
    store = Database(db_url)
    upgrade(store)
    app = make_app(Config(), store)
    with httpx.Client(transport=httpx.WSGITransport(app=app), base_url="http://placement") as c:
        yield c, store
    store.dispose()


@pytest.fixture
def scheduler(db_url: str) -> Iterator[tuple[httpx.Client, Registry]]:
    registry = Registry.open(db_url)
    with httpx.Client(transport=httpx.WSGITransport(app=create_app(registry)), base_url="http://scheduler") as c:
        yield c, registry
    registry.close()


def test_placement_logs_one_json_line_per_request_with_every_field(
        placement: tuple[httpx.Client, Database], capture: Captured) -> None:
    api, _ = placement
    rp = str(uuid.uuid4())
    answers = [
        api.get("/resource_providers", params={"name": "x"}, headers={**ADMIN, "x-openstack-request-id": GLOBAL_ID}),
        api.get(f"/resource_providers/{rp}", headers={**ADMIN, "x-auth-token": "alice:demo",
                                                      "x-openstack-request-id": "not-a-request-id"}),
        api.get("/nowhere", headers=ADMIN),
        api.get("/"),
    ]
    lines = capture.request_lines()
    assert [line["request_id"] for line in lines] == [a.headers["x-openstack-request-id"] for a in answers]
    listing, shown, nowhere, root = lines
    assert listing["method"] == "GET" and listing["route"] == "/resource_providers"
    assert listing["path"] == "/resource_providers" and listing["query"] == "name=x"
    assert listing["status"] == 200 and listing["microversion"] == "1.39"
    assert listing["global_request_id"] == GLOBAL_ID
    assert (listing["user_id"], listing["project_id"]) == ("admin", "admin")
    assert isinstance(listing["time_ms"], float) and listing["time_ms"] >= 0
    assert listing["level"] == "INFO" and listing["logger"] == "allotment.placement.api"
    # A route template, not the path; an invalid inbound id is dropped, as oslo.middleware does.
    assert (shown["route"], shown["path"], shown["status"]) == ("/resource_providers/{uuid}",
                                                               f"/resource_providers/{rp}", 403)
    assert shown["global_request_id"] is None
    assert (shown["user_id"], shown["project_id"]) == ("alice", "demo")
    assert (nowhere["route"], nowhere["status"]) == (None, 404)
    assert (root["route"], root["status"], root["user_id"]) == ("/", 200, None)


def test_a_placement_500_is_logged_with_its_traceback_and_request_id(
        placement: tuple[httpx.Client, Database], capture: Captured) -> None:
    api, store = placement
    with store.engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE resource_providers"))
    r = api.get("/resource_providers", headers={**ADMIN, "x-openstack-request-id": GLOBAL_ID})
    assert r.status_code == 500
    request_id = r.headers["x-openstack-request-id"]
    errors = [rec for rec in capture.records() if rec["level"] == "ERROR"]
    assert len(errors) == 1, capture.lines()
    assert errors[0]["request_id"] == request_id and errors[0]["global_request_id"] == GLOBAL_ID
    assert "Traceback" in errors[0]["traceback"] and "resource_providers" in errors[0]["traceback"]
    (line,) = capture.request_lines()
    assert (line["status"], line["request_id"]) == (500, request_id)


@pytest.mark.parametrize("capture", ["text"], indirect=True)
def test_text_lines_carry_the_request_id_and_who_asked(
        placement: tuple[httpx.Client, Database], capture: Captured) -> None:
    api, _ = placement
    r = api.get("/resource_providers", headers={**ADMIN, "x-auth-token": "bob:proj", "x-openstack-request-id": GLOBAL_ID})
    (line,) = capture.lines()
    assert f"[{r.headers['x-openstack-request-id']}]" in line
    assert '"GET /resource_providers" status: 403' in line and "microversion: 1.39" in line
    assert "user: bob project: proj" in line and f"global_request_id: {GLOBAL_ID}" in line


def test_the_scheduler_logs_the_same_line_and_its_5xx_tracebacks(
        scheduler: tuple[httpx.Client, Registry], capture: Captured) -> None:
    api, registry = scheduler
    r = api.get("/hosts/c1", headers={"x-openstack-request-id": GLOBAL_ID})
    assert r.status_code == 404
    (line,) = capture.request_lines()
    assert (line["method"], line["route"], line["path"], line["status"]) == ("GET", "/hosts/{name}", "/hosts/c1", 404)
    assert line["request_id"] == r.headers["x-openstack-request-id"] and line["global_request_id"] == GLOBAL_ID
    assert line["logger"] == "allotment.scheduler.api" and line["microversion"] is None
    with registry.db.engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE sched_hosts"))
    r = api.put("/hosts/c2", json={"provider_uuid": str(uuid.uuid4())})
    assert r.status_code == 500
    errors = [rec for rec in capture.records() if rec["level"] == "ERROR"]
    assert len(errors) == 1 and errors[0]["request_id"] == r.headers["x-openstack-request-id"], capture.lines()
    assert "Traceback" in errors[0]["traceback"] and "sched_hosts" in errors[0]["traceback"]


def test_logging_settings_come_from_the_logging_table(tmp_path: Any) -> None:
    conf = tmp_path / "allotment.toml"
    conf.write_text('[logging]\nlevel = "warning"\nformat = "json"\n')
    assert LogSettings.from_file(conf) == LogSettings("warning", "json")
    assert LogSettings.from_file(None) == LogSettings("info", "text")
    conf.write_text('[logging]\nformat = "xml"\n')
    with pytest.raises(ValueError, match="format"):
        LogSettings.from_file(conf)


def test_the_scheduler_passes_the_global_request_id_on_to_placement(tmp_path: Any, capture: Captured) -> None:
    from tests.scheduler.fleet import add_ram_graded_hosts, boot_spec, open_fleet

    with open_fleet(tmp_path) as fleet:
        add_ram_graded_hosts(fleet)
        app = create_app(fleet.registry, scheduler=fleet.scheduler())
        with httpx.Client(transport=httpx.WSGITransport(app=app), base_url="http://scheduler") as api:
            for inbound in (GLOBAL_ID, None):
                capture.stream.truncate(0)
                capture.stream.seek(0)
                r = api.post("/select_destinations", json={"request_spec": boot_spec().to_dict()},
                             headers={"x-openstack-request-id": inbound} if inbound else {})
                assert r.status_code == 200, r.text
                lines = capture.request_lines()
                to_placement = [line for line in lines if line["logger"] == "allotment.placement.api"]
                assert {line["route"] for line in to_placement} >= {"/allocation_candidates",
                                                                    "/allocations/{consumer_uuid}"}
                # Placement's lines carry the caller's global id, or else the scheduler request's own id.
                expected = inbound or r.headers["x-openstack-request-id"]
                assert {line["global_request_id"] for line in to_placement} == {expected}
                assert lines[-1]["logger"] == "allotment.scheduler.api" and lines[-1]["route"] == "/select_destinations"
