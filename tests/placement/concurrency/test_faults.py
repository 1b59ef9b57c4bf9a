"""A writer that dies mid-transaction leaves nothing half-written, and its locks go with it.

(a) a child process holding a multi-provider claim open inside a write
    transaction is SIGKILLed;
(b) the same, but its database connection is terminated from outside
    (``pg_terminate_backend`` / MariaDB ``KILL``) while the process lives on;
(c) an HTTP client sends half a request body and disconnects.

Afterwards no allocation, consumer, project or user of the dead writer exists,
usages are what they were, and a competing claim on the same providers (already
waiting on the dead writer's locks) and a fresh one both succeed within seconds.
"""

from __future__ import annotations

import dataclasses
import json
import multiprocessing as mp
import socket
import struct
import time
import uuid as uuidlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import sqlalchemy as sa

from allotment.bench.databases import BACKENDS, admin_url, fresh_database
from allotment.bench.servers import RunningServer, allotment_server
from allotment.infra.database import Database
from allotment.placement.store import tables
from tests.conftest import require_backend
from tests.placement.concurrency._support import (
    HEADERS,
    Allocs,
    claim_body,
    client,
    consumer_allocations,
    create_provider,
    hold_claim_open,
    nonzero,
    provider_state,
)

INVENTORY = {"VCPU": {"total": 8}, "MEMORY_MB": {"total": 4096}}
UNLOCK_WITHIN = 5.0  # seconds after the fault by which waiting claims must go through
HOLD_CHECK = 1.0  # how long a competing claim must stay blocked while the dead-to-be writer holds its locks


@dataclasses.dataclass
class Deployment:
    backend: str
    db_url: str
    server: RunningServer

    @property
    def url(self) -> str:
        return self.server.url


@pytest.fixture(scope="module", params=BACKENDS)
def deployment(request: pytest.FixtureRequest) -> Iterator[Deployment]:
    require_backend(request.param)
    with fresh_database(request.param) as db_url, allotment_server(db_url, workers=2) as server:
        yield Deployment(request.param, db_url, server)


@pytest.fixture
def api(deployment: Deployment) -> Iterator[httpx.Client]:
    with client(deployment.url) as c:
        yield c


def two_providers(api: httpx.Client) -> tuple[str, str]:
    tag = uuidlib.uuid4().hex[:8]
    return create_provider(api, f"fault-a-{tag}", INVENTORY), create_provider(api, f"fault-b-{tag}", INVENTORY)


def put_claim(url: str, consumer: str, allocs: Allocs) -> tuple[int, str, float]:
    """PUT a claim on a new connection; (status, body, monotonic time it finished)."""
    with client(url, timeout=60) as c:
        r = c.put(f"/allocations/{consumer}", json=claim_body(allocs))
    return r.status_code, r.text, time.monotonic()


def snapshot(api: httpx.Client, providers: tuple[str, ...]) -> dict[str, tuple[int, dict[str, int]]]:
    out = {}
    for rp in providers:
        ps = provider_state(api, rp)
        out[rp] = (ps.generation, nonzero(ps.usages))
    return out


def assert_nothing_from(api: httpx.Client, db_url: str, consumer: str, project: str, user: str) -> None:
    """Neither the API nor the tables show anything the dead writer wrote."""
    assert consumer_allocations(api, consumer) == {}, f"allocations of the dead writer's consumer {consumer} exist"
    r = api.get("/usages", params={"project_id": project})
    assert r.status_code == 200, r.text
    assert nonzero(r.json()["usages"]) == {}, f"usages of the dead writer's project: {r.text}"
    store = Database(db_url, pool_size=1)
    try:
        with store.read() as conn:
            left = {
                "allocations": conn.execute(
                    sa.select(sa.func.count()).select_from(tables.allocations)
                    .where(tables.allocations.c.consumer_id == consumer)
                ).scalar_one(),
                "consumers": conn.execute(
                    sa.select(sa.func.count()).select_from(tables.consumers).where(tables.consumers.c.uuid == consumer)
                ).scalar_one(),
                "projects": conn.execute(
                    sa.select(sa.func.count()).select_from(tables.projects)
                    .where(tables.projects.c.external_id == project)
                ).scalar_one(),
                "users": conn.execute(
                    sa.select(sa.func.count()).select_from(tables.users).where(tables.users.c.external_id == user)
                ).scalar_one(),
            }
    finally:
        store.dispose()
    assert left == {"allocations": 0, "consumers": 0, "projects": 0, "users": 0}, f"rows left behind: {left}"


def expect_message(pipe: Any, proc: Any, timeout: float) -> tuple[str, Any]:
    if not pipe.poll(timeout):
        pytest.fail(f"the writer process sent nothing within {timeout}s (alive: {proc.is_alive()})")
    try:
        return tuple(pipe.recv())  # type: ignore[return-value]
    except EOFError:
        pytest.fail(f"the writer process died before reporting (exit code {proc.exitcode})")


class HeldClaim:
    """A child process holding a multi-provider claim open in an uncommitted write transaction."""

    def __init__(self, db_url: str, allocs: Allocs) -> None:
        tag = uuidlib.uuid4().hex[:8]
        self.consumer = str(uuidlib.uuid4())
        self.project = f"fault-project-{tag}"
        self.user = f"fault-user-{tag}"
        self.allocs = allocs
        ctx = mp.get_context("spawn")
        self.pipe, child_end = ctx.Pipe()
        self.proc = ctx.Process(
            target=hold_claim_open,
            args=(db_url, self.consumer, self.project, self.user, allocs, child_end),
            daemon=True,
        )
        self.proc.start()
        child_end.close()
        kind, self.conn_id = expect_message(self.pipe, self.proc, 60)
        assert kind == "holding", f"writer did not get to hold its claim: {kind} {self.conn_id}"

    def release(self) -> tuple[str, Any]:
        """Let the transaction go on to commit; what happened to it."""
        for _ in range(5):
            self.pipe.send("go")
            kind, detail = expect_message(self.pipe, self.proc, 30)
            if kind != "holding":  # holding again: the store retried on a new connection
                return kind, detail
        pytest.fail("writer kept retrying its transaction")

    def close(self) -> None:
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join(10)
        self.pipe.close()


def run_fault(deployment: Deployment, api: httpx.Client, inflict: Any) -> HeldClaim:
    """Hold a claim open in a child, check it blocks a competitor, inflict the fault, check the aftermath."""
    a, b = two_providers(api)
    before = snapshot(api, (a, b))
    # Together with the competing claim below, this exceeds VCPU on a and MEMORY_MB on b.
    held = HeldClaim(deployment.db_url, {a: {"VCPU": 6, "MEMORY_MB": 1024}, b: {"VCPU": 2, "MEMORY_MB": 3072}})
    try:
        assert snapshot(api, (a, b)) == before, "an uncommitted claim is visible through the API"
        with ThreadPoolExecutor(1) as pool:
            competitor = str(uuidlib.uuid4())
            competing = pool.submit(put_claim, deployment.url, competitor, {a: {"VCPU": 4}, b: {"MEMORY_MB": 2048}})
            time.sleep(HOLD_CHECK)
            assert not competing.done(), (
                f"a competing claim did not wait for the open transaction's provider locks: {competing.result()}"
            )
            faulted_at = time.monotonic()
            inflict(held)
            status, text, finished_at = competing.result(timeout=60)
        waited = finished_at - faulted_at
        assert status == 204, f"competing claim after the fault: {status} {text}"
        assert waited < UNLOCK_WITHIN, f"competing claim waited {waited:.1f}s after the fault for the locks"

        assert_nothing_from(api, deployment.db_url, held.consumer, held.project, held.user)
        after = snapshot(api, (a, b))
        assert after[a] == (before[a][0] + 1, {"VCPU": 4}), f"provider a: before {before[a]}, after {after[a]}"
        assert after[b] == (before[b][0] + 1, {"MEMORY_MB": 2048}), f"provider b: before {before[b]}, after {after[b]}"

        # A fresh multi-provider claim that fits only if the dead writer left nothing.
        started = time.monotonic()
        status, text, done = put_claim(
            deployment.url, str(uuidlib.uuid4()), {a: {"VCPU": 4, "MEMORY_MB": 1024}, b: {"VCPU": 2, "MEMORY_MB": 2048}}
        )
        assert status == 204, f"claim after the fault: {status} {text}"
        assert done - started < UNLOCK_WITHIN, f"claim after the fault took {done - started:.1f}s"
        final = snapshot(api, (a, b))
        assert final[a][1] == {"VCPU": 8, "MEMORY_MB": 1024} and final[b][1] == {"VCPU": 2, "MEMORY_MB": 4096}, final
        return held
    except BaseException:
        held.close()
        raise


def test_killed_writer_leaves_nothing(deployment: Deployment, api: httpx.Client) -> None:
    """(a) SIGKILL of a process inside a write transaction."""

    def kill(held: HeldClaim) -> None:
        held.proc.kill()
        held.proc.join(10)
        assert not held.proc.is_alive()

    held = run_fault(deployment, api, kill)
    held.close()


def _terminate_connection(backend: str, conn_id: int) -> None:
    engine = sa.create_engine(admin_url(backend), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            if backend == "postgresql":
                assert conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": conn_id}).scalar() is True
            else:
                conn.exec_driver_sql(f"KILL {int(conn_id)}")
    finally:
        engine.dispose()


def test_dropped_connection_leaves_nothing(deployment: Deployment, api: httpx.Client) -> None:
    """(b) The writer's database connection is terminated from outside; the process lives on."""
    if deployment.backend == "sqlite":
        pytest.skip(
            "SQLite has no server-side connection to terminate: the writer's connection is its own process, "
            "so killing the process (test_killed_writer_leaves_nothing) is the meaningful fault"
        )

    def drop(held: HeldClaim) -> None:
        assert held.conn_id is not None
        _terminate_connection(deployment.backend, held.conn_id)
        assert held.proc.is_alive()

    held = run_fault(deployment, api, drop)
    try:
        # Let the orphaned writer try to commit: it must fail, and still nothing of it may appear.
        kind, detail = held.release()
        print(f"{deployment.backend}: writer whose connection was dropped, on commit: {kind}: {detail}")
        assert kind == "failed", f"the writer whose connection was dropped reports {kind} {detail}"
        assert_nothing_from(api, deployment.db_url, held.consumer, held.project, held.user)
    finally:
        held.close()


# ---- (c) half a request body --------------------------------------------------------------------


def _wait_for_log(log: Path, needle: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if needle in log.read_text(errors="replace"):
            return True
        time.sleep(0.1)
    return False


CUTS = {
    # name: (how much of the body to send, padding declared in Content-Length but never sent, reset?)
    "headers-only": (0.0, 0, False),
    "half-body": (0.5, 0, False),
    "half-body-reset": (0.5, 0, True),
    "whole-json-short-of-content-length": (1.0, 32, False),
    "whole-json-short-of-content-length-reset": (1.0, 32, True),
}


@pytest.mark.parametrize("cut", list(CUTS))
def test_half_sent_body_writes_nothing(deployment: Deployment, api: httpx.Client, cut: str) -> None:
    """(c) A client sends part of a PUT /allocations body and disconnects."""
    fraction, padding, reset = CUTS[cut]
    a, b = two_providers(api)
    before = snapshot(api, (a, b))
    consumer = str(uuidlib.uuid4())
    body = json.dumps(claim_body({a: {"VCPU": 2, "MEMORY_MB": 512}, b: {"VCPU": 1}})).encode()
    # The declared length covers the body plus trailing whitespace (still valid JSON) never sent.
    declared = len(body) + padding
    sent = body[: int(len(body) * fraction)]
    head = (
        f"PUT /allocations/{consumer} HTTP/1.1\r\n"
        f"Host: placement\r\n"
        + "".join(f"{k}: {v}\r\n" for k, v in HEADERS.items())
        + f"Content-Type: application/json\r\nContent-Length: {declared}\r\n\r\n"
    ).encode()
    parts = urlsplit(deployment.url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=10)
    try:
        sock.sendall(head + sent)
        time.sleep(0.2)  # let the server start reading the body
        if reset:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    finally:
        sock.close()

    # Give the server time to finish with the request (it logs one line per request it answers).
    _wait_for_log(deployment.server.workdir / "server.log", consumer, 5.0)
    time.sleep(0.3)

    written = consumer_allocations(api, consumer)
    assert written == {}, (
        f"{cut}: a request whose body was cut off after {len(sent)} of {declared} declared bytes was applied: "
        f"{written}"
    )
    assert snapshot(api, (a, b)) == before, f"{cut}: providers changed"

    # The server is fine and the providers are free: a complete claim goes through.
    status, text, _ = put_claim(deployment.url, str(uuidlib.uuid4()), {a: {"VCPU": 8}, b: {"MEMORY_MB": 4096}})
    assert status == 204, f"{cut}: claim after the broken request: {status} {text}"
