"""The candidates read model: incremental refresh from the change log, gaps, full reloads, pruning."""

from __future__ import annotations

import datetime as dt
import threading
import uuid as uuidlib
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from allotment.infra.database import Database
from allotment.placement.api.app import make_app
from allotment.placement.candidates import model as model_mod
from allotment.placement.candidates.model import ReadModel
from allotment.placement.config import Config
from allotment.placement.domain import changes
from allotment.placement.domain.common import now
from allotment.placement.store import tables
from tests.conftest import ADMIN


@pytest.fixture
def app_client(store: Database) -> Iterator[tuple[Any, httpx.Client]]:
    app = make_app(Config(), store)
    with httpx.Client(transport=httpx.WSGITransport(app=app), base_url="http://placement", headers=ADMIN) as c:
        yield app, c


def provider(c: httpx.Client, name: str, vcpu: int = 4, parent: str | None = None) -> str:
    uuid = str(uuidlib.uuid4())
    body: dict[str, Any] = {"name": name, "uuid": uuid}
    if parent:
        body["parent_provider_uuid"] = parent
    assert c.post("/resource_providers", json=body).status_code == 200
    r = c.put(
        f"/resource_providers/{uuid}/inventories",
        json={"resource_provider_generation": 0, "inventories": {"VCPU": {"total": vcpu}}},
    )
    assert r.status_code == 200, r.text
    return uuid


def candidates(c: httpx.Client, qs: str = "resources=VCPU:1") -> dict[str, Any]:
    r = c.get(f"/allocation_candidates?{qs}")
    assert r.status_code == 200, r.text
    return r.json()


def vcpu_capacity(body: dict[str, Any], uuid: str) -> int:
    return body["provider_summaries"][uuid]["resources"]["VCPU"]["capacity"]


def internal_id(store: Database, uuid: str) -> int:
    with store.read() as conn:
        return conn.execute(sa.select(tables.providers.c.id).where(tables.providers.c.uuid == uuid)).scalar_one()


def set_total_directly(store: Database, pid: int, total: int, change_id: int | None) -> None:
    """Change a provider's VCPU total behind the API, logging it under an explicit change id."""

    def op(conn: sa.Connection) -> None:
        conn.execute(
            tables.inventories.update().where(tables.inventories.c.resource_provider_id == pid).values(total=total)
        )
        values: dict[str, Any] = {"provider_id": pid, "changed_at": now()}
        if change_id is not None:
            values["id"] = change_id
        conn.execute(tables.changes.insert().values(**values))

    store.write(op)


def max_change(store: Database) -> int:
    with store.read() as conn:
        return conn.execute(sa.select(sa.func.max(tables.changes.c.id))).scalar() or 0


# ---- writes through the API ------------------------------------------------------------------------


def test_api_writes_become_visible_incrementally(app_client: tuple[Any, httpx.Client]) -> None:
    app, c = app_client
    # Start from a non-empty log: a model that loaded an emptied log (the fixture empties it, but
    # PostgreSQL and MySQL sequences go on) cannot rule out pruned rows and reloads once.
    provider(c, "z", 1)
    assert candidates(c, "resources=VCPU:2")["allocation_requests"] == []
    model = app.read_model
    assert model.full_loads == 1
    a = provider(c, "a")
    body = candidates(c, "resources=VCPU:2")
    assert list(body["provider_summaries"]) == [a]
    # inventory change
    gen = c.get(f"/resource_providers/{a}").json()["generation"]
    c.put(
        f"/resource_providers/{a}/inventories",
        json={"resource_provider_generation": gen, "inventories": {"VCPU": {"total": 9}}},
    )
    assert vcpu_capacity(candidates(c), a) == 9
    # an allocation changes 'used'
    consumer = str(uuidlib.uuid4())
    r = c.put(
        f"/allocations/{consumer}",
        json={
            "allocations": {a: {"resources": {"VCPU": 8}}},
            "project_id": "p",
            "user_id": "u",
            "consumer_generation": None,
            "consumer_type": "INSTANCE",
        },
    )
    assert r.status_code == 204, r.text
    assert candidates(c)["provider_summaries"][a]["resources"]["VCPU"]["used"] == 8
    assert candidates(c, "resources=VCPU:2")["allocation_requests"] == []
    # a child and traits
    child = provider(c, "a-child", parent=a)
    assert {s for s in candidates(c, "resources=VCPU:2")["provider_summaries"]} == {a, child}
    gen = c.get(f"/resource_providers/{child}").json()["generation"]
    c.put(
        f"/resource_providers/{child}/traits", json={"resource_provider_generation": gen, "traits": ["HW_CPU_X86_AVX2"]}
    )
    body = candidates(c, "resources=VCPU:1&required=HW_CPU_X86_AVX2")
    assert [list(r["allocations"]) for r in body["allocation_requests"]] == [[child]]
    # deletes
    c.delete(f"/allocations/{consumer}")
    c.delete(f"/resource_providers/{child}")
    assert len(candidates(c, "resources=VCPU:2")["allocation_requests"]) == 1
    assert model.full_loads == 1, "everything above was applied incrementally"


def test_refresh_costs_one_query_when_nothing_changed(app_client: tuple[Any, httpx.Client], store: Database) -> None:
    app, c = app_client
    provider(c, "a")
    candidates(c)
    model = app.read_model
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append(statement)

    sa.event.listen(store.engine, "before_cursor_execute", record)
    try:
        model.refresh()
        model.refresh()
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", record)
    assert len(statements) == 2, statements
    assert all("max(placement_changes.id)" in s for s in statements)


def claim(c: httpx.Client, rp: str, vcpu: int) -> str:
    consumer = str(uuidlib.uuid4())
    r = c.put(
        f"/allocations/{consumer}",
        json={"allocations": {rp: {"resources": {"VCPU": vcpu}}}, "project_id": "p", "user_id": "u",
              "consumer_generation": None, "consumer_type": "INSTANCE"},
    )
    assert r.status_code == 204, r.text
    return consumer


def test_an_allocation_write_rereads_only_usage_and_generation(
    app_client: tuple[Any, httpx.Client], store: Database
) -> None:
    app, c = app_client
    a = provider(c, "a", 8)
    gen = c.get(f"/resource_providers/{a}").json()["generation"]
    c.put(f"/resource_providers/{a}/traits", json={"resource_provider_generation": gen, "traits": ["HW_CPU_X86_AVX2"]})
    candidates(c)
    model = app.read_model
    pid = internal_id(store, a)
    before = model.providers[pid]
    claim(c, a, 3)
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    sa.event.listen(store.engine, "before_cursor_execute", record)
    try:
        model.refresh()
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", record)
    after = model.providers[pid]
    assert after is not before
    assert after.used == {"VCPU": 3}
    assert after.generation == c.get(f"/resource_providers/{a}").json()["generation"] == before.generation + 1
    # Inventories, traits and aggregates are not read again: the record shares them.
    assert after.inv is before.inv and after.traits is before.traits and after.aggs is before.aggs
    assert not [s for s in statements if "FROM inventories" in s or "FROM resource_provider_traits" in s], statements
    assert model.full_loads == 1
    body = candidates(c, "resources=VCPU:1&required=HW_CPU_X86_AVX2")
    assert body["provider_summaries"][a]["resources"]["VCPU"]["used"] == 3


def test_usage_and_inventory_changes_in_one_batch_reread_everything(
    app_client: tuple[Any, httpx.Client], store: Database
) -> None:
    app, c = app_client
    a = provider(c, "a", 8)
    candidates(c)
    claim(c, a, 2)
    set_total_directly(store, internal_id(store, a), 10, None)  # a full change row after the usage one
    claim(c, a, 1)
    summary = candidates(c)["provider_summaries"][a]["resources"]["VCPU"]
    assert (summary["capacity"], summary["used"]) == (10, 3)
    assert app.read_model.full_loads == 1


def test_two_workers_see_each_others_writes(store: Database) -> None:
    """Two apps over one database stand for two worker processes."""
    app1, app2 = make_app(Config(), store), make_app(Config(), store)
    with (
        httpx.Client(transport=httpx.WSGITransport(app=app1), base_url="http://p", headers=ADMIN) as c1,
        httpx.Client(transport=httpx.WSGITransport(app=app2), base_url="http://p", headers=ADMIN) as c2,
    ):
        assert candidates(c2)["allocation_requests"] == []
        a = provider(c1, "a")
        assert list(candidates(c2)["provider_summaries"]) == [a]
        consumer = str(uuidlib.uuid4())
        c1.put(
            f"/allocations/{consumer}",
            json={
                "allocations": {a: {"resources": {"VCPU": 4}}},
                "project_id": "p",
                "user_id": "u",
                "consumer_generation": None,
                "consumer_type": "INSTANCE",
            },
        )
        assert candidates(c2)["allocation_requests"] == []


# ---- gaps: ids committed out of order ---------------------------------------------------------------------


def test_out_of_order_commit_is_picked_up(app_client: tuple[Any, httpx.Client], store: Database) -> None:
    app, c = app_client
    a, b = provider(c, "a", 4), provider(c, "b", 4)
    candidates(c)
    model = app.read_model
    hwm = max_change(store)
    assert model.hwm == hwm and not model.gaps
    # The transaction holding hwm+2 (provider b) commits first ...
    set_total_directly(store, internal_id(store, b), 6, hwm + 2)
    body = candidates(c)
    assert vcpu_capacity(body, b) == 6
    assert set(model.gaps) == {hwm + 1}
    # ... then the one holding hwm+1 (provider a).
    set_total_directly(store, internal_id(store, a), 7, hwm + 1)
    body = candidates(c)
    assert vcpu_capacity(body, a) == 7
    assert not model.gaps
    assert model.full_loads == 1


def test_gap_is_given_up_after_timeout(app_client: tuple[Any, httpx.Client], store: Database, monkeypatch: Any) -> None:
    app, c = app_client
    b = provider(c, "b", 4)
    candidates(c)
    model = app.read_model
    hwm = max_change(store)
    set_total_directly(store, internal_id(store, b), 5, hwm + 2)
    candidates(c)
    assert set(model.gaps) == {hwm + 1}
    clock = [model_mod.time.monotonic() + model_mod.GAP_TIMEOUT + 1]
    monkeypatch.setattr(model_mod.time, "monotonic", lambda: clock[0])
    set_total_directly(store, internal_id(store, b), 6, hwm + 3)  # something new, so the refresh looks
    assert vcpu_capacity(candidates(c), b) == 6
    assert not model.gaps


def test_real_concurrent_transactions_commit_out_of_order(store: Database, app_client: tuple[Any, httpx.Client]) -> None:
    """On PostgreSQL and MySQL ids come from a sequence before commit: a real gap."""
    if store.backend == "sqlite":
        pytest.skip("SQLite serialises writers, so its ids never commit out of order")
    app, c = app_client
    a, b = provider(c, "a", 4), provider(c, "b", 4)
    candidates(c)
    model = app.read_model
    pa, pb = internal_id(store, a), internal_id(store, b)
    slow = store.engine.connect()
    tx = slow.begin()
    slow.execute(tables.inventories.update().where(tables.inventories.c.resource_provider_id == pa).values(total=11))
    slow.execute(tables.changes.insert().values(provider_id=pa, changed_at=now()))  # takes the smaller id
    try:
        set_total_directly(store, pb, 12, None)  # commits first with the larger id
        body = candidates(c)
        assert vcpu_capacity(body, b) == 12 and vcpu_capacity(body, a) == 4
        assert len(model.gaps) == 1
        tx.commit()
    finally:
        slow.close()
    assert vcpu_capacity(candidates(c), a) == 11
    assert not model.gaps


# ---- full reloads ---------------------------------------------------------------------------------------


def test_null_change_row_reloads_everything(app_client: tuple[Any, httpx.Client], store: Database) -> None:
    app, c = app_client
    a = provider(c, "a", 4)
    candidates(c)
    model = app.read_model

    def op(conn: sa.Connection) -> None:
        conn.execute(tables.inventories.update().values(total=13))
        conn.execute(tables.changes.insert().values(provider_id=None, changed_at=now()))

    store.write(op)
    assert vcpu_capacity(candidates(c), a) == 13
    assert model.full_loads == 2


def test_resource_class_rename_is_a_full_reload(app_client: tuple[Any, httpx.Client]) -> None:
    app, c = app_client
    assert c.put("/resource_classes/CUSTOM_OLD").status_code == 201
    a = provider(c, "a")
    gen = c.get(f"/resource_providers/{a}").json()["generation"]
    c.put(
        f"/resource_providers/{a}/inventories",
        json={"resource_provider_generation": gen, "inventories": {"CUSTOM_OLD": {"total": 2}}},
    )
    assert len(candidates(c, "resources=CUSTOM_OLD:1")["allocation_requests"]) == 1
    r = c.put(
        "/resource_classes/CUSTOM_OLD", json={"name": "CUSTOM_NEW"}, headers={"openstack-api-version": "placement 1.6"}
    )
    assert r.status_code == 200, r.text  # before 1.7, PUT renames a custom class
    assert len(candidates(c, "resources=CUSTOM_NEW:1")["allocation_requests"]) == 1
    assert app.read_model.full_loads == 2


def test_pruned_log_forces_full_reload_of_a_lagging_reader(store: Database) -> None:
    app1, app2 = make_app(Config(), store), make_app(Config(), store)
    with (
        httpx.Client(transport=httpx.WSGITransport(app=app1), base_url="http://p", headers=ADMIN) as c1,
        httpx.Client(transport=httpx.WSGITransport(app=app2), base_url="http://p", headers=ADMIN) as c2,
    ):
        a = provider(c1, "a", 4)
        candidates(c1)
        candidates(c2)
        lagging = app2.read_model
        b = provider(c1, "b", 4)
        provider(c1, "c", 4)
        candidates(c1)
        deleted = store.write(lambda conn: changes.prune(conn, keep_age=0, keep_rows=1))
        assert deleted > 0
        with store.read() as conn:
            lo, hi = conn.execute(sa.select(sa.func.min(tables.changes.c.id), sa.func.max(tables.changes.c.id))).one()
        assert lo == hi, "only the newest row is kept"
        # The lagging reader's mark is below the oldest remaining row: it must reload everything.
        assert lagging.hwm + 1 < lo
        body = candidates(c2)
        assert {a, b} <= set(body["provider_summaries"])
        assert lagging.full_loads == 2


def test_prune_keeps_recent_rows(app_client: tuple[Any, httpx.Client], store: Database) -> None:
    app, c = app_client
    provider(c, "a")
    candidates(c)
    model = app.read_model
    before = max_change(store)
    assert store.write(changes.prune) == 0  # everything is recent and there are few rows

    def backdate(conn: sa.Connection) -> None:
        conn.execute(tables.changes.update().values(changed_at=now() - dt.timedelta(hours=2)))

    store.write(backdate)
    assert store.write(changes.prune) > 0
    assert max_change(store) == before, "the newest row survives"
    provider(c, "b")
    assert len(candidates(c)["allocation_requests"]) == 2
    assert model.full_loads == 1


def test_emptied_log_reloads(app_client: tuple[Any, httpx.Client], store: Database) -> None:
    app, c = app_client
    provider(c, "a")
    candidates(c)
    store.write(lambda conn: conn.execute(tables.changes.delete()))
    candidates(c)
    assert app.read_model.full_loads == 2


def test_concurrent_requests_and_writes(app_client: tuple[Any, httpx.Client]) -> None:
    """Threads querying while others write: no errors, and the final answer is current."""
    app, c = app_client
    uuids = [provider(c, f"p{i}", 8) for i in range(6)]
    failures: list[str] = []

    def reader() -> None:
        for _ in range(30):
            r = c.get("/allocation_candidates?resources=VCPU:1")
            if r.status_code != 200:
                failures.append(r.text)

    def writer(k: int) -> None:
        for j in range(10):
            consumer = str(uuidlib.uuid4())
            r = c.put(
                f"/allocations/{consumer}",
                json={
                    "allocations": {uuids[(k + j) % 6]: {"resources": {"VCPU": 1}}},
                    "project_id": "p",
                    "user_id": "u",
                    "consumer_generation": None,
                    "consumer_type": "INSTANCE",
                },
            )
            if r.status_code != 204:
                failures.append(r.text)

    threads = [threading.Thread(target=reader) for _ in range(3)] + [
        threading.Thread(target=writer, args=(k,)) for k in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures
    body = candidates(c)
    assert sum(s["resources"]["VCPU"]["used"] for s in body["provider_summaries"].values()) == 20
    fresh = ReadModel(app.store)
    fresh.refresh()
    mine = app.read_model
    with mine.lock, fresh.lock:
        assert {p: (r.used, r.generation) for p, r in mine.providers.items()} == {
            p: (r.used, r.generation) for p, r in fresh.providers.items()
        }


def _backdate_log(store: Database) -> None:
    def backdate(conn: sa.Connection) -> None:
        conn.execute(tables.changes.update().values(changed_at=now() - dt.timedelta(hours=2)))

    store.write(backdate)


def test_a_get_never_writes(store: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    # Make any read-side housekeeping due at once (the attribute is gone where reads never write).
    monkeypatch.setattr(model_mod, "PRUNE_INTERVAL", 0.0, raising=False)
    app = make_app(Config(), store)
    assert isinstance(app.read_model, ReadModel), "the app owns its read model from the start"
    with httpx.Client(transport=httpx.WSGITransport(app=app), base_url="http://p", headers=ADMIN) as c:
        for name in ("a", "b", "c"):
            provider(c, name)
        _backdate_log(store)
        rows_before = max_change(store)
        writes: list[str] = []

        def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            if statement.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE")):
                writes.append(statement)

        sa.event.listen(store.engine, "before_cursor_execute", record)
        try:
            for _ in range(3):
                candidates(c)
        finally:
            sa.event.remove(store.engine, "before_cursor_execute", record)
    assert writes == []
    with store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(tables.changes)).scalar() >= 3
    assert max_change(store) == rows_before


def test_writes_prune_the_log(app_client: tuple[Any, httpx.Client], store: Database,
                              monkeypatch: pytest.MonkeyPatch) -> None:
    app, c = app_client
    for name in ("a", "b", "c"):
        provider(c, name)
    _backdate_log(store)
    monkeypatch.setattr(changes, "PRUNE_EVERY", 1, raising=False)
    newest = provider(c, "d")
    with store.read() as conn:
        remaining = conn.execute(sa.select(tables.changes.c.changed_at)).scalars().all()
    cutoff = now() - dt.timedelta(hours=1)
    assert remaining and all(stamp > cutoff for stamp in remaining), "the backdated rows are gone"
    assert newest in candidates(c)["provider_summaries"]


def test_a_prune_step_is_bounded(store: Database) -> None:
    def fill(conn: sa.Connection) -> None:
        changes.touch(conn, range(1, 51))

    store.write(fill)
    _backdate_log(store)
    assert store.write(lambda conn: changes.prune(conn, limit=20)) == 20
    assert store.write(lambda conn: changes.prune(conn, limit=20)) == 20
    assert store.write(lambda conn: changes.prune(conn, limit=20)) == 9, "never the newest row"


def test_pruning_is_paced_by_rows_logged_not_by_writes(store: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    # One write that logs many rows counts as many: pruning keeps up with wide writes.
    store.write(lambda conn: changes.touch(conn, range(1, 6)))
    _backdate_log(store)
    monkeypatch.setattr(changes, "PRUNE_EVERY", 50)
    monkeypatch.setattr(changes, "_logged", 0, raising=False)
    store.write(lambda conn: changes.touch(conn, range(100, 160)))
    with store.read() as conn:
        stamps = conn.execute(sa.select(tables.changes.c.changed_at)).scalars().all()
    assert len(stamps) == 60 and all(s > now() - dt.timedelta(hours=1) for s in stamps)
