"""Bad input on every write route and query string: a clear 4xx, never a 500, nothing written.

``test_bad_input`` runs a table of about a thousand requests the API must refuse:
malformed JSON, JSON of the wrong top-level type, wrong field types, unknown
fields, negative/zero/huge integers (2**31, 2**63, 10**30), floats where integers
belong, NaN and Infinity literals, long and hostile unicode (emoji, RTL, NUL, lone
surrogates), bad UUIDs, wrong content types, missing bodies, bad microversions,
unknown paths and wrong methods. For each it checks

1. the exact status (upstream OpenStack Placement's, where it defines one);
2. the JSON error envelope ``{"errors": [{"status", "title", "detail", "code",
   "request_id"}]}``, with the expected ``code`` from microversion 1.23 and none
   before (a 406 for a bad microversion also names min/max; a 405 carries ``Allow``);
3. that the database is unchanged (see ``World``: every row of every table, and
   the API's own view of providers, inventories, traits, aggregates, usages,
   allocations, resource classes and custom traits when the rows differ).

A few GETs with hostile but well-formed values must answer 200, and oddly spelled
but valid UUIDs (no dashes, braces, urn:uuid:; upper case where upstream
normalizes) must be taken and stored in the dashed form.

Two hypothesis property tests throw random JSON and mutations of valid bodies at
the write routes: status < 500; a 4xx carries the envelope and leaves the database
as it was.

All cases share one database per backend, seeded once (``world``); a request that
changes it gets it restored before the next one.

Known server defects are listed in ``DEFECTS``: their cases count as xfail while
the defect shows, and fail with "no longer shows" once it is fixed (then delete the
entry); the property tests let a 500 or a write through only for inputs a listed
defect covers. ``ALLOTMENT_BAD_INPUT_STRICT=1`` ignores the list, so every defect
fails. ``ALLOTMENT_BAD_INPUT_FULL_SNAPSHOTS=1`` compares the API snapshot after
every case too (slow), ``ALLOTMENT_BAD_INPUT_EXAMPLES`` sets the hypothesis budget.
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, event, given, note, settings
from hypothesis import strategies as st

from allotment.bench.databases import fresh_database
from allotment.infra.database import Database
from allotment.placement.api.app import make_app
from allotment.placement.config import Config
from allotment.placement.domain.names import CUSTOM_CLASS_MIN_ID
from allotment.placement.schema import upgrade
from allotment.placement.store import tables
from tests.conftest import ADMIN, reset

STRICT = os.environ.get("ALLOTMENT_BAD_INPUT_STRICT", "") not in ("", "0")
# Compare the API snapshot after every case too, not only when the rows differ.
FULL_SNAPSHOTS = os.environ.get("ALLOTMENT_BAD_INPUT_FULL_SNAPSHOTS", "") not in ("", "0")

# ---- the seeded world ----------------------------------------------------------------------

RP1 = "5d9b1f2e-0c6a-4d8e-9a41-1e0f7c3b2a01"  # root: VCPU, MEMORY_MB; traits; aggregate AGG1
RP2 = "5d9b1f2e-0c6a-4d8e-9a41-1e0f7c3b2a02"  # child of RP1: CUSTOM_SEED_RC
RP3 = "5d9b1f2e-0c6a-4d8e-9a41-1e0f7c3b2a03"  # another root, empty
MISSING_RP = "5d9b1f2e-0c6a-4d8e-9a41-1e0f7c3b2aff"
NEW_RP = "5d9b1f2e-0c6a-4d8e-9a41-1e0f7c3b2a10"
AGG1 = "a66e0d55-7b1c-4a8e-8f0e-3c7d9b2e4f01"
AGG2 = "a66e0d55-7b1c-4a8e-8f0e-3c7d9b2e4f02"
C1 = "c0a5e1d2-3b4f-4a6e-9d8c-7b6a5f4e3d01"  # holds VCPU:2, MEMORY_MB:512 on RP1
C2 = "c0a5e1d2-3b4f-4a6e-9d8c-7b6a5f4e3d02"  # holds CUSTOM_SEED_RC:1 on RP2
C3 = "c0a5e1d2-3b4f-4a6e-9d8c-7b6a5f4e3d03"  # a new consumer
C4 = "c0a5e1d2-3b4f-4a6e-9d8c-7b6a5f4e3d04"  # another new consumer
DASHES = "-" * 36  # matches the schemas' uuid key pattern, is no uuid
P1, P2, U1 = "project-one", "project-two", "user-one"
CONSUMERS = (C1, C2, C3, C4, DASHES)
PROJECTS = (P1, P2)

# Generations once seeded (checked by the seeding).
RP1_GEN, RP2_GEN, RP3_GEN, C1_GEN = 4, 2, 0, 1

LONG = "x" * 201
HUGE = [2**31, 2**63, 10**30]
NUL_NAME = "bad\x00name"
SURROGATE = "bad\ud800name"
LONE_LOW = "\udfffbad"
EMOJI = "\U0001f600\U0001f680"
RTL = "\u202eevil\u202c \u05e9\u05dc\u05d5\u05dd \u0645\u0631\u062d\u0628\u0627"
BAD_UUIDS = [
    "not-a-uuid",
    "",
    RP1[:-1],  # 35 characters
    RP1 + "0",  # 37 characters
    RP1[:-1] + "g",  # not hex
    DASHES,
    RP1.replace("-", "_"),
    RP1 + "\x00",
]


def _ok(resp: httpx.Response) -> httpx.Response:
    assert resp.status_code < 300, f"seeding {resp.request.method} {resp.request.url}: {resp.status_code} {resp.text}"
    return resp


def seed(c: httpx.Client) -> None:
    """The state every case starts from. Deterministic, so generations are known."""
    _ok(c.post("/resource_providers", json={"name": "bad-input-root", "uuid": RP1}))
    _ok(c.post("/resource_providers", json={"name": "bad-input-child", "uuid": RP2, "parent_provider_uuid": RP1}))
    _ok(c.post("/resource_providers", json={"name": "bad-input-other", "uuid": RP3}))
    for name in ("CUSTOM_SEED_RC", "CUSTOM_SPARE_RC"):
        _ok(c.put(f"/resource_classes/{name}"))
    for name in ("CUSTOM_SEED", "CUSTOM_SPARE"):
        _ok(c.put(f"/traits/{name}"))
    inventories = {"VCPU": {"total": 8}, "MEMORY_MB": {"total": 4096, "max_unit": 2048}}
    rp1, rp2 = f"/resource_providers/{RP1}", f"/resource_providers/{RP2}"
    _ok(c.put(f"{rp1}/inventories", json={"resource_provider_generation": 0, "inventories": inventories}))
    traits = ["CUSTOM_SEED", "HW_CPU_X86_AVX"]
    _ok(c.put(f"{rp1}/traits", json={"traits": traits, "resource_provider_generation": 1}))
    _ok(c.put(f"{rp1}/aggregates", json={"aggregates": [AGG1], "resource_provider_generation": 2}))
    seed_rc = {"CUSTOM_SEED_RC": {"total": 10}}
    _ok(c.put(f"{rp2}/inventories", json={"resource_provider_generation": 0, "inventories": seed_rc}))
    _ok(c.put(f"/allocations/{C1}", json=alloc_body({RP1: {"VCPU": 2, "MEMORY_MB": 512}})))
    c2 = alloc_body({RP2: {"CUSTOM_SEED_RC": 1}}, project_id=P2, consumer_type="MIGRATION")
    _ok(c.put(f"/allocations/{C2}", json=c2))
    gens = {p["uuid"]: p["generation"] for p in c.get("/resource_providers").json()["resource_providers"]}
    assert gens == {RP1: RP1_GEN, RP2: RP2_GEN, RP3: RP3_GEN}, gens
    assert c.get(f"/allocations/{C1}").json()["consumer_generation"] == C1_GEN


def alloc_body(allocs: dict[str, dict[str, Any]], **fields: Any) -> dict[str, Any]:
    """A valid PUT /allocations body at the latest microversion."""
    body: dict[str, Any] = {
        "allocations": {rp: {"resources": res} for rp, res in allocs.items()},
        "project_id": P1,
        "user_id": U1,
        "consumer_generation": None,
        "consumer_type": "INSTANCE",
    }
    body.update(fields)
    return body


def alloc_list_body(allocs: dict[str, dict[str, Any]], **fields: Any) -> dict[str, Any]:
    """A valid PUT /allocations body in the list form (1.8 - 1.11)."""
    body: dict[str, Any] = {
        "allocations": [{"resource_provider": {"uuid": rp}, "resources": res} for rp, res in allocs.items()],
        "project_id": P1,
        "user_id": U1,
    }
    body.update(fields)
    return body


# Every table, parents before children.
_TABLES = [
    tables.resource_classes,
    tables.traits,
    tables.providers,
    tables.aggregates,
    tables.projects,
    tables.users,
    tables.consumer_types,
    tables.consumers,
    tables.inventories,
    tables.provider_aggregates,
    tables.provider_traits,
    tables.allocations,
]
# Tables holding the standard names, which the restore leaves alone when they did not change.
_NAME_TABLES = (tables.resource_classes, tables.traits)


def _ordered(t: sa.Table) -> sa.Select[Any]:
    return sa.select(t).order_by(*(t.primary_key.columns or t.c))


def _as_text(col: sa.Column[Any]) -> sa.ColumnElement[str]:
    return sa.func.coalesce(sa.cast(col, sa.String), "~")


def _is_standard(t: sa.Table) -> sa.ColumnElement[bool]:
    if t is tables.traits:
        return sa.not_(t.c.name.like("CUSTOM\\_%", escape="\\"))
    return t.c.id < CUSTOM_CLASS_MIN_ID


def _fingerprint_query() -> sa.CompoundSelect[Any]:
    """Every row of every table as text, in one round trip.

    The few hundred standard classes and traits are summed up (count, id sum,
    newest timestamps, name lengths) rather than listed, to keep it quick.
    """
    parts = []
    for t in _TABLES:
        text = _as_text(list(t.c)[0])
        for col in list(t.c)[1:]:
            text = text + "|" + _as_text(col)
        select = sa.select(sa.literal(t.name).label("tbl"), text.label("row"))
        if t in _NAME_TABLES:
            select = select.where(sa.not_(_is_standard(t)))
            summary = [sa.func.count(), sa.func.sum(t.c.id), sa.func.sum(sa.func.length(t.c.name)),
                       sa.func.max(t.c.created_at), sa.func.max(t.c.updated_at)]
            text = _as_text(summary[0])
            for col in summary[1:]:
                text = text + "|" + _as_text(col)
            parts.append(sa.select(sa.literal(t.name + ":standard").label("tbl"), text.label("row"))
                         .where(_is_standard(t)))
        parts.append(select)
    return sa.union_all(*parts)


_FINGERPRINT = _fingerprint_query()


class World:
    """One seeded database per backend, an in-process client, and the ways to tell it changed.

    Two views of "the database", both taken right after seeding:

    * ``snapshot()``: what the API shows (providers with their inventories, traits,
      aggregates, usages and allocations; resource classes; custom traits; the
      allocations of every consumer the cases use; the usages of their projects);
    * ``dump()``: every row of every table, timestamps included (``fingerprint()``:
      the same as text, in one query).

    The API view is a function of the rows, so after each case comparing the
    fingerprint settles "unchanged"; when the rows differ, the API snapshot and the
    rows are compared to say what changed (``ALLOTMENT_BAD_INPUT_FULL_SNAPSHOTS=1``
    compares the API snapshot after every case as well). A changed world is put back by
    writing the seeded rows again (``restore``), which keeps ids and timestamps, so
    both views come back identical.
    """

    def __init__(self, store: Database) -> None:
        self.store = store
        self.backend = store.backend
        self.client = self._client()
        self.pristine: dict[str, Any] | None = None  # API view after seeding
        self.rows: dict[str, list[tuple[Any, ...]]] | None = None  # every row after seeding
        self.seeded_fingerprint: list[tuple[str, str]] = []
        self.clean = False

    def _client(self) -> httpx.Client:
        app = make_app(Config(), self.store)
        return httpx.Client(transport=httpx.WSGITransport(app=app), base_url="http://placement", headers=ADMIN)

    def close(self) -> None:
        self.client.close()

    def ensure_seeded(self) -> None:
        """Bring the world to its seeded state (seeding the first time, restoring after)."""
        if self.clean:
            return
        if self.rows is None:
            reset(self.store)
            seed(self.client)
            self.rows = self.dump()
            self.seeded_fingerprint = self.fingerprint()
            self.pristine = self.snapshot()
        else:
            self.restore()
            # A fresh app too, in case anything in it remembers what it saw.
            self.client.close()
            self.client = self._client()
            assert self.fingerprint() == self.seeded_fingerprint, "restore did not bring back the seeded rows"
        self.clean = True

    # -- the two views --------------------------------------------------------------------

    def dump(self) -> dict[str, list[tuple[Any, ...]]]:
        with self.store.read() as conn:
            return {t.name: [tuple(r) for r in conn.execute(_ordered(t))] for t in _TABLES}

    def fingerprint(self) -> list[tuple[str, str]]:
        """The dump as sorted text, fetched in one query (the per-case check)."""
        with self.store.read() as conn:
            return sorted((r.tbl, r.row) for r in conn.execute(_FINGERPRINT))

    def _get(self, path: str) -> Any:
        resp = self.client.get(path)
        assert resp.status_code == 200, f"snapshot GET {path}: {resp.status_code} {resp.text}"
        return resp.json()

    def snapshot(self) -> dict[str, Any]:
        """What the API shows of the world."""
        view: dict[str, Any] = {}
        rps = sorted(self._get("/resource_providers")["resource_providers"], key=lambda p: p["uuid"])
        view["resource_providers"] = rps
        for rp in rps:
            for sub in ("inventories", "traits", "aggregates", "usages", "allocations"):
                view[f"{rp['uuid']}/{sub}"] = self._get(f"/resource_providers/{rp['uuid']}/{sub}")
        view["resource_classes"] = self._get("/resource_classes")
        view["custom_traits"] = self._get("/traits?name=startswith:CUSTOM_")
        for consumer in CONSUMERS:
            view[f"allocations/{consumer}"] = self._get(f"/allocations/{consumer}")
        for project in PROJECTS:
            view[f"usages/{project}"] = self._get(f"/usages?project_id={project}")
        return view

    def changes(self, *, full: bool = FULL_SNAPSHOTS) -> list[str]:
        """What differs from the seeded world (empty: nothing). A change marks the world dirty."""
        assert self.rows is not None and self.pristine is not None
        same_rows = self.fingerprint() == self.seeded_fingerprint
        if same_rows and not full:
            return []
        self.clean = False  # until shown otherwise (the snapshot itself may fail on a broken world)
        rows = self.dump()
        try:
            view = self.snapshot()
        except AssertionError as exc:
            diff = [f"API snapshot failed: {exc}"]
        else:
            diff = [
                f"API {key}: {self.pristine.get(key)!r} -> {view.get(key)!r}"
                for key in sorted(set(view) | set(self.pristine))
                if view.get(key) != self.pristine.get(key)
            ]
        for name, seeded in self.rows.items():
            now = rows[name]
            if now != seeded:
                gone = [r for r in seeded if r not in now]
                new = [r for r in now if r not in seeded]
                diff.append(f"table {name}: removed {gone[:5]!r}, added/changed {new[:5]!r}")
        if not same_rows and not diff:
            diff.append("the rows' fingerprint changed")
        self.clean = not diff
        return diff

    def restore(self) -> None:
        """Write the seeded rows back (same ids, same timestamps)."""
        assert self.rows is not None
        seeded = self.rows
        current = self.dump()

        def write(conn: sa.Connection) -> None:
            for t in reversed(_TABLES):
                if t in _NAME_TABLES:
                    continue
                if t is tables.providers:
                    conn.execute(t.update().values(root_provider_id=None, parent_provider_id=None))
                conn.execute(t.delete())
            for t in _NAME_TABLES:  # usually unchanged: touch only the rows that differ
                keep = set(seeded[t.name])
                stale = [r for r in current[t.name] if r not in keep]
                if stale:
                    conn.execute(t.delete().where(t.c.id.in_([r[0] for r in stale])))
            for t in _TABLES:
                cols = [c.name for c in t.c]
                if t in _NAME_TABLES:
                    have = set(current[t.name])
                    rows = [r for r in seeded[t.name] if r not in have]
                else:
                    rows = seeded[t.name]
                if not rows:
                    continue
                values = [dict(zip(cols, r)) for r in rows]
                if t is tables.providers:
                    links = [(v["id"], v["root_provider_id"], v["parent_provider_id"]) for v in values]
                    values = [dict(v, root_provider_id=None, parent_provider_id=None) for v in values]
                    conn.execute(t.insert(), values)
                    for pid, root, parent in links:
                        conn.execute(
                            t.update().where(t.c.id == pid).values(root_provider_id=root, parent_provider_id=parent)
                        )
                else:
                    conn.execute(t.insert(), values)

        self.store.write(write)


@pytest.fixture(scope="module")
def world(backend: str) -> Iterator[World]:
    """A database of its own (so no other test module can disturb the seeded state)."""
    with fresh_database(backend) as url:
        store = Database(url)
        upgrade(store)
        w = World(store)
        try:
            yield w
        finally:
            w.close()
            store.dispose()


# ---- known defects ---------------------------------------------------------------------------

# id -> (backends it shows on, or None for all; one line on what goes wrong). Remove an entry
# once its fix lands: its cases then fail with "no longer shows" until you do.
DEFECTS: dict[str, tuple[tuple[str, ...] | None, str]] = {}


@contextlib.contextmanager
def expecting(defect: str | None, backend: str) -> Iterator[None]:
    """Run checks that a known defect makes fail: an xfail while it does, a failure once it does not.

    (A strict xfail in effect, raised by hand so pytest need not format a traceback
    through this long module for each of them.)
    """
    backends, summary = DEFECTS[defect] if defect is not None else (None, "")
    if defect is None or STRICT or (backends is not None and backend not in backends):
        yield
        return
    try:
        yield
    except AssertionError as exc:
        first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
        raise pytest.xfail.Exception(f"{defect}: {summary} | {first}", pytrace=False) from None
    pytest.fail(f"{defect} no longer shows on {backend}: remove it from DEFECTS", pytrace=False)


# ---- the cases -----------------------------------------------------------------------------


class Raw(bytes):
    """A body sent byte for byte (not JSON-encoded)."""


NO_BODY = object()


@dataclass
class Case:
    id: str
    method: str
    path: str
    status: int
    body: Any = NO_BODY
    version: str | None = None  # microversion; None: latest
    content_type: str | None = "application/json"  # sent when there is a body
    headers: dict[str, str] = field(default_factory=dict)
    code: str | None = None  # expected error code (from 1.23); None: placement.undefined_code
    allow: str | None = None  # expected Allow header of a 405
    defect: str | None = None
    # New consumers upstream creates before it finds a named provider missing, and keeps
    # (at generation 0) although it refuses the request: the one change allowed.
    keeps_consumers: tuple[str, ...] = ()

    def encoded(self) -> bytes | None:
        if self.body is NO_BODY:
            return None
        if isinstance(self.body, bytes):
            return bytes(self.body)
        return json.dumps(self.body, allow_nan=True).encode()

    def send(self, client: httpx.Client) -> httpx.Response:
        headers = {"openstack-api-version": f"placement {self.version or 'latest'}"}
        content = self.encoded()
        if content is not None and self.content_type is not None:
            headers["content-type"] = self.content_type
        headers.update(self.headers)
        return client.request(self.method, self.path, content=content, headers=headers)


def _version_tuple(version: str | None) -> tuple[int, int]:
    if version is None or version == "latest":
        return (1, 39)
    major, minor = version.split(".")
    return int(major), int(minor)


def check_envelope(resp: httpx.Response, status: int, *, version: str | None, code: str | None) -> dict[str, Any]:
    """The JSON error envelope, with a code from 1.23 and the request id of the response."""
    assert resp.headers.get("content-type", "").startswith("application/json"), resp.headers
    body = resp.json()
    assert set(body) == {"errors"}, body
    assert isinstance(body["errors"], list) and len(body["errors"]) == 1, body
    error = body["errors"][0]
    assert error["status"] == status, error
    assert isinstance(error["title"], str) and error["title"], error
    assert isinstance(error["detail"], str) and error["detail"].strip(), error
    assert error["request_id"] == resp.headers["x-openstack-request-id"], error
    if _version_tuple(version) >= (1, 23):
        assert error.get("code") == (code or "placement.undefined_code"), error
    else:
        assert "code" not in error, error
    return error


def _cases() -> list[Case]:
    cases: list[Case] = []
    add = cases.append

    # ---- one valid request per JSON write route, for the content-type and syntax cases ----
    json_routes: list[tuple[str, str, str, str | None, Any]] = [
        ("rp-create", "POST", "/resource_providers", None, {"name": "new-rp", "uuid": NEW_RP}),
        ("rp-update", "PUT", f"/resource_providers/{RP3}", None, {"name": "renamed"}),
        ("inv-create", "POST", f"/resource_providers/{RP3}/inventories", None,
         {"resource_class": "DISK_GB", "total": 10}),
        ("inv-set", "PUT", f"/resource_providers/{RP3}/inventories", None,
         {"resource_provider_generation": RP3_GEN, "inventories": {"DISK_GB": {"total": 10}}}),
        ("inv-update", "PUT", f"/resource_providers/{RP1}/inventories/VCPU", None,
         {"resource_provider_generation": RP1_GEN, "total": 16}),
        ("agg-1.19", "PUT", f"/resource_providers/{RP3}/aggregates", None,
         {"aggregates": [AGG2], "resource_provider_generation": RP3_GEN}),
        ("agg-1.1", "PUT", f"/resource_providers/{RP3}/aggregates", "1.1", [AGG2]),
        ("rp-traits", "PUT", f"/resource_providers/{RP3}/traits", None,
         {"traits": ["CUSTOM_SPARE"], "resource_provider_generation": RP3_GEN}),
        ("rc-create", "POST", "/resource_classes", None, {"name": "CUSTOM_NEW_RC"}),
        ("rc-rename-1.6", "PUT", "/resource_classes/CUSTOM_SPARE_RC", "1.6", {"name": "CUSTOM_RENAMED_RC"}),
        ("alloc-put", "PUT", f"/allocations/{C3}", None, alloc_body({RP1: {"VCPU": 1}})),
        ("alloc-put-1.11", "PUT", f"/allocations/{C3}", "1.11", alloc_list_body({RP1: {"VCPU": 1}})),
        ("alloc-put-1.12", "PUT", f"/allocations/{C3}", "1.12",
         {"allocations": {RP1: {"resources": {"VCPU": 1}}}, "project_id": P1, "user_id": U1}),
        ("alloc-put-1.28", "PUT", f"/allocations/{C3}", "1.28",
         {"allocations": {RP1: {"resources": {"VCPU": 1}}}, "project_id": P1, "user_id": U1,
          "consumer_generation": None}),
        ("alloc-post", "POST", "/allocations", None, {C3: alloc_body({RP1: {"VCPU": 1}})}),
    ]
    for name, method, path, version, valid in json_routes:
        def c(suffix: str, status: int, body: Any, **kw: Any) -> None:
            add(Case(f"{name}:{suffix}", method, path, status, body, version=kw.pop("version", version), **kw))

        # Content types.
        c("ctype-text-plain", 415, valid, content_type="text/plain")
        c("ctype-xml", 415, valid, content_type="application/xml")
        c("ctype-json-patch", 415, valid, content_type="application/json-patch+json")
        c("ctype-form", 415, valid, content_type="application/x-www-form-urlencoded")
        c("ctype-missing-with-body", 400, valid, content_type=None)
        c("ctype-missing-no-body", 415, NO_BODY)
        c("body-missing", 400, Raw(b""))
        c("body-whitespace", 400, Raw(b"   \n"))
        # Malformed JSON.
        c("json-truncated", 400, Raw(b'{"name": "x"'))
        c("json-single-quotes", 400, Raw(b"{'name': 'x'}"))
        c("json-trailing-comma", 400, Raw(b'{"name": "x",}'))
        c("json-trailing-garbage", 400, Raw(json.dumps(valid).encode() + b" garbage"))
        c("json-two-documents", 400, Raw(json.dumps(valid).encode() * 2))
        c("json-comment", 400, Raw(b'/* hi */ {"name": "x"}'))
        c("json-not-json", 400, Raw(b"name=x"))
        c("json-bad-utf8", 400, Raw(b'{"name": "\xff\xfe"}'))
        c("json-utf16", 400, Raw(json.dumps(valid).encode("utf-16")))
        c("json-bom", 400, Raw(b"\xef\xbb\xbf" + json.dumps(valid).encode()))
        c("json-deep-nesting", 400, Raw(b"[" * 100_000 + b"]" * 100_000))
        c("json-charset-param-still-parsed", 400, Raw(b"{"), content_type="application/json; charset=utf-8")
        c("json-uppercase-ctype-still-parsed", 400, Raw(b"{"), content_type="Application/JSON")
        # Wrong top-level types.
        wrong_tops: list[tuple[str, Any]] = [
            ("null", None), ("true", True), ("int", 0), ("string", "x"), ("float", 1.5)
        ]
        wrong_tops.append(("object", {}) if isinstance(valid, list) else ("array", [valid]))
        for label, value in wrong_tops:
            c(f"top-{label}", 400, value)
        c("top-NaN", 400, Raw(b"NaN"))
        c("top-Infinity", 400, Raw(b"-Infinity"))
        # A body for another microversion's schema.
        if isinstance(valid, dict):
            c("unexpected-field", 400, dict(valid, unexpected_field=1))

    # ---- microversion headers: before anything else, on reads and writes ----
    for label, value, status in [
        ("too-high", "placement 1.99", 406),
        ("major-2", "placement 2.0", 406),
        ("too-low", "placement 0.9", 406),
        ("negative", "placement -1.5", 406),
        ("word", "placement foo", 400),
        ("three-parts", "placement 1.0.1", 400),
        ("trailing-dot", "placement 1.", 400),
        ("exponent", "placement 1.1e1", 400),
    ]:
        for method, path, body in [
            ("GET", "/resource_providers", NO_BODY),
            ("POST", "/resource_providers", {"name": "new-rp", "uuid": NEW_RP}),
            ("PUT", f"/allocations/{C3}", alloc_body({RP1: {"VCPU": 1}})),
            ("DELETE", f"/resource_providers/{RP3}", NO_BODY),
            ("GET", "/nowhere", NO_BODY),
        ]:
            add(Case(f"microversion-{label}:{method} {path}", method, path, status, body,
                     headers={"openstack-api-version": value}))

    # ---- unknown paths ----
    for method, path in [
        ("GET", "/resource_provider"),
        ("GET", "/resource_providers/"),
        ("POST", "/resource_providers/"),
        ("GET", f"/resource_providers/{RP1}/nope"),
        ("PUT", f"/resource_providers/{RP1}/inventories/VCPU/extra"),
        ("DELETE", f"/resource_providers/{RP1}/traits/CUSTOM_SEED"),
        ("PUT", "/allocations/"),
        ("GET", "/traits/"),
        ("PUT", "/resource_classes/"),
        ("GET", "/v1/resource_providers"),
        ("GET", "/usages/extra"),
        ("DELETE", "/resource_providers/a%2Fb"),
        ("GET", "/" + "x" * 10_000),
        ("GET", "/resource_providers/" + "x" * 10_000 + "/inventories"),
    ]:
        add(Case(f"unknown-path:{method} {path[:60]}", method, path, 404))

    # ---- wrong methods: 405 with Allow ----
    for method, path, allow in [
        ("PATCH", "/resource_providers", "GET, POST"),
        ("DELETE", "/resource_providers", "GET, POST"),
        ("PUT", "/resource_providers", "GET, POST"),
        ("POST", f"/resource_providers/{RP1}", "GET, DELETE, PUT"),
        ("PATCH", f"/resource_providers/{RP1}", "GET, DELETE, PUT"),
        ("PATCH", f"/resource_providers/{RP1}/inventories", "GET, POST, PUT, DELETE"),
        ("POST", f"/resource_providers/{RP1}/inventories/VCPU", "GET, PUT, DELETE"),
        ("POST", f"/resource_providers/{RP1}/aggregates", "GET, PUT"),
        ("DELETE", f"/resource_providers/{RP1}/aggregates", "GET, PUT"),
        ("POST", f"/resource_providers/{RP1}/traits", "GET, PUT, DELETE"),
        ("POST", f"/resource_providers/{RP1}/usages", "GET"),
        ("DELETE", f"/resource_providers/{RP1}/allocations", "GET"),
        ("GET", "/allocations", "POST"),
        ("PUT", "/allocations", "POST"),
        ("DELETE", "/allocations", "POST"),
        ("POST", f"/allocations/{C1}", "GET, PUT, DELETE"),
        ("PATCH", f"/allocations/{C1}", "GET, PUT, DELETE"),
        ("POST", "/traits", "GET"),
        ("DELETE", "/traits", "GET"),
        ("POST", "/traits/CUSTOM_SEED", "GET, PUT, DELETE"),
        ("DELETE", "/resource_classes", "GET, POST"),
        ("POST", "/resource_classes/CUSTOM_SEED_RC", "GET, PUT, DELETE"),
        ("POST", "/usages", "GET"),
        ("PUT", "/", "GET"),
        ("DELETE", "/", "GET"),
    ]:
        add(Case(f"wrong-method:{method} {path}", method, path, 405, allow=allow))
    # A JSON body does not change that.
    add(Case("wrong-method-with-body:PATCH /resource_providers", "PATCH", "/resource_providers", 405,
             {"name": "x"}, allow="GET, POST"))
    # Routes that exist only from a microversion on.
    add(Case("too-old:DELETE inventories@1.4", "DELETE", f"/resource_providers/{RP1}/inventories", 405, version="1.4"))
    add(Case("too-old:POST /allocations@1.12", "POST", "/allocations", 404,
             {C3: {"allocations": {RP1: {"resources": {"VCPU": 1}}}, "project_id": P1, "user_id": U1}}, version="1.12"))
    add(Case("too-old:PUT aggregates@1.0", "PUT", f"/resource_providers/{RP3}/aggregates", 404, [AGG2], version="1.0"))
    add(Case("too-old:POST /resource_classes@1.1", "POST", "/resource_classes", 404, {"name": "CUSTOM_X"},
             version="1.1"))
    add(Case("too-old:PUT /traits/CUSTOM_X@1.5", "PUT", "/traits/CUSTOM_X", 404, version="1.5"))
    add(Case("too-old:PUT rp traits@1.5", "PUT", f"/resource_providers/{RP3}/traits", 404,
             {"traits": [], "resource_provider_generation": RP3_GEN}, version="1.5"))
    add(Case("too-old:DELETE rp traits@1.5", "DELETE", f"/resource_providers/{RP1}/traits", 404, version="1.5"))
    add(Case("too-old:DELETE /traits/CUSTOM_SPARE@1.5", "DELETE", "/traits/CUSTOM_SPARE", 404, version="1.5"))
    add(Case("too-old:DELETE /resource_classes/CUSTOM_SPARE_RC@1.1", "DELETE", "/resource_classes/CUSTOM_SPARE_RC",
             404, version="1.1"))
    add(Case("too-old:GET /usages@1.8", "GET", f"/usages?project_id={P1}", 404, version="1.8"))

    # ---- header oddities ----
    add(Case("content-length-not-a-number", "POST", "/resource_providers", 400, {"name": "new-rp"},
             headers={"content-length": "abc"}))

    # ---- POST /resource_providers ----
    def rp_post(suffix: str, status: int, body: Any, **kw: Any) -> None:
        add(Case(f"rp-create:{suffix}", "POST", "/resource_providers", status, body, **kw))

    rp_post("empty-object", 400, {})
    rp_post("name-missing", 400, {"uuid": NEW_RP})
    for label, value in [("int", 1), ("null", None), ("list", ["a"]), ("object", {"a": 1}), ("bool", True),
                         ("float", 1.5)]:
        rp_post(f"name-{label}", 400, {"name": value})
    rp_post("name-201-chars", 400, {"name": LONG})
    rp_post("name-201-emoji", 400, {"name": "\U0001f600" * 201})
    rp_post("name-1MB", 400, {"name": "x" * 1_000_000})
    rp_post("name-NUL", 400, {"name": NUL_NAME})
    rp_post("name-lone-high-surrogate", 400, {"name": SURROGATE})
    rp_post("name-lone-low-surrogate", 400, {"name": LONE_LOW})
    for i, bad in enumerate(BAD_UUIDS):
        rp_post(f"uuid-bad-{i}", 400, {"name": "new-rp", "uuid": bad})
    rp_post("uuid-int", 400, {"name": "new-rp", "uuid": 123})
    rp_post("uuid-null", 400, {"name": "new-rp", "uuid": None})
    rp_post("uuid-list", 400, {"name": "new-rp", "uuid": [NEW_RP]})
    rp_post("duplicate-uuid", 409, {"name": "new-rp", "uuid": RP1}, code="placement.duplicate_name")
    rp_post("duplicate-uuid-uppercase", 409, {"name": "new-rp", "uuid": RP1.upper()}, code="placement.duplicate_name")
    rp_post("duplicate-name", 409, {"name": "bad-input-root"}, code="placement.duplicate_name")
    rp_post("parent-bad-uuid", 400, {"name": "new-rp", "parent_provider_uuid": "not-a-uuid"})
    rp_post("parent-int", 400, {"name": "new-rp", "parent_provider_uuid": 1})
    rp_post("parent-missing", 400, {"name": "new-rp", "parent_provider_uuid": MISSING_RP})
    rp_post("parent-is-self", 400, {"name": "new-rp", "uuid": NEW_RP, "parent_provider_uuid": NEW_RP})
    rp_post("parent-before-1.14", 400, {"name": "new-rp", "parent_provider_uuid": RP1}, version="1.13")
    rp_post("unknown-field", 400, {"name": "new-rp", "color": "blue"})
    rp_post("generation-field", 400, {"name": "new-rp", "generation": 0})
    rp_post("root-field", 400, {"name": "new-rp", "root_provider_uuid": RP1})
    rp_post("name-NaN", 400, Raw(b'{"name": NaN}'))

    # ---- PUT /resource_providers/{uuid} ----
    def rp_put(suffix: str, status: int, body: Any, path: str = f"/resource_providers/{RP3}", **kw: Any) -> None:
        add(Case(f"rp-update:{suffix}", "PUT", path, status, body, **kw))

    rp_put("empty-object", 400, {})
    rp_put("name-int", 400, {"name": 5})
    rp_put("name-null", 400, {"name": None})
    rp_put("name-201-chars", 400, {"name": LONG})
    rp_put("name-NUL", 400, {"name": NUL_NAME})
    rp_put("name-lone-surrogate", 400, {"name": SURROGATE})
    rp_put("uuid-field", 400, {"name": "renamed", "uuid": RP3})
    rp_put("unknown-field", 400, {"name": "renamed", "generation": 0})
    rp_put("duplicate-name", 409, {"name": "bad-input-root"}, code="placement.duplicate_name")
    rp_put("parent-bad-uuid", 400, {"name": "bad-input-other", "parent_provider_uuid": "nope"})
    rp_put("parent-missing", 400, {"name": "bad-input-other", "parent_provider_uuid": MISSING_RP})
    rp_put("parent-is-self", 400, {"name": "bad-input-other", "parent_provider_uuid": RP3})
    rp_put("parent-is-own-child", 400, {"name": "bad-input-root", "parent_provider_uuid": RP2},
           path=f"/resource_providers/{RP1}")
    rp_put("unparent-before-1.37", 400, {"name": "bad-input-child", "parent_provider_uuid": None},
           path=f"/resource_providers/{RP2}", version="1.36")
    rp_put("reparent-before-1.37", 400, {"name": "bad-input-child", "parent_provider_uuid": RP3},
           path=f"/resource_providers/{RP2}", version="1.36")
    rp_put("parent-before-1.14", 400, {"name": "bad-input-other", "parent_provider_uuid": RP1}, version="1.13")
    rp_put("missing-provider", 404, {"name": "x"}, path=f"/resource_providers/{MISSING_RP}")
    rp_put("path-not-a-uuid", 404, {"name": "x"}, path="/resource_providers/not-a-uuid")
    rp_put("path-NUL", 400, {"name": "x"}, path=f"/resource_providers/{RP3}%00")

    # ---- DELETE /resource_providers/{uuid} ----
    for suffix, path, status, code, defect in [
        ("has-child", f"/resource_providers/{RP1}", 409, "placement.resource_provider.cannot_delete_parent", None),
        ("has-allocations", f"/resource_providers/{RP2}", 409, "placement.resource_provider.inuse", None),
        ("missing", f"/resource_providers/{MISSING_RP}", 404, None, None),
        ("not-a-uuid", "/resource_providers/not-a-uuid", 404, None, None),
        ("emoji", f"/resource_providers/{EMOJI}", 404, None, None),
        ("NUL", f"/resource_providers/{RP3}%00", 400, None, None),
        ("invalid-utf8", "/resource_providers/%ED%A0%80", 404, None, None),
    ]:
        add(Case(f"rp-delete:{suffix}", "DELETE", path, status, code=code, defect=defect))

    # ---- POST /resource_providers/{uuid}/inventories ----
    def inv_post(suffix: str, status: int, body: Any, rp: str = RP3, **kw: Any) -> None:
        add(Case(f"inv-create:{suffix}", "POST", f"/resource_providers/{rp}/inventories", status, body, **kw))

    inv_post("empty-object", 400, {})
    inv_post("class-missing", 400, {"total": 10})
    inv_post("total-missing", 400, {"resource_class": "DISK_GB"})
    inv_post("class-lowercase", 400, {"resource_class": "disk_gb", "total": 10})
    inv_post("class-int", 400, {"resource_class": 7, "total": 10})
    inv_post("class-emoji", 400, {"resource_class": "CUSTOM_" + EMOJI, "total": 10})
    inv_post("class-unknown", 400, {"resource_class": "CUSTOM_NOPE", "total": 10})
    inv_post("class-exists", 409, {"resource_class": "VCPU", "total": 10}, rp=RP1, code="placement.concurrent_update")
    inv_post("missing-provider", 404, {"resource_class": "DISK_GB", "total": 10}, rp=MISSING_RP)
    inv_post("unknown-field", 400, {"resource_class": "DISK_GB", "total": 10, "used": 1})
    inv_post("generation-string", 400, {"resource_class": "DISK_GB", "total": 10, "resource_provider_generation": "0"})
    for fld, low in [("total", 0), ("reserved", -1), ("min_unit", 0), ("max_unit", 0), ("step_size", 0)]:
        base = {"resource_class": "DISK_GB", "total": 10}
        inv_post(f"{fld}-below-minimum", 400, dict(base, **{fld: low}))
        inv_post(f"{fld}-negative", 400, dict(base, **{fld: -5}))
        for n in HUGE:
            inv_post(f"{fld}-huge-{n}", 400, dict(base, **{fld: n}))
        inv_post(f"{fld}-float", 400, dict(base, **{fld: 1.5}))
        inv_post(f"{fld}-string", 400, dict(base, **{fld: "5"}))
        inv_post(f"{fld}-bool", 400, dict(base, **{fld: True}))
        inv_post(f"{fld}-null", 400, dict(base, **{fld: None}))
        inv_post(f"{fld}-NaN", 400, Raw(json.dumps(base).encode()[:-1] + f', "{fld}": NaN}}'.encode()))
    for label, raw in [("NaN", b"NaN"), ("Infinity", b"Infinity"), ("minus-Infinity", b"-Infinity"),
                       ("1e39", b"1e39"), ("1e400", b"1e400"), ("string", b'"1.0"'), ("null", b"null")]:
        inv_post(f"allocation_ratio-{label}", 400,
                 Raw(b'{"resource_class": "DISK_GB", "total": 10, "allocation_ratio": ' + raw + b"}"))
    inv_post("reserved-above-total", 400, {"resource_class": "DISK_GB", "total": 10, "reserved": 11})
    inv_post("reserved-equals-total-before-1.26", 400, {"resource_class": "DISK_GB", "total": 10, "reserved": 10},
             version="1.25")

    # ---- PUT /resource_providers/{uuid}/inventories ----
    def inv_set(suffix: str, status: int, body: Any, rp: str = RP1, **kw: Any) -> None:
        add(Case(f"inv-set:{suffix}", "PUT", f"/resource_providers/{rp}/inventories", status, body, **kw))

    good_invs = {"VCPU": {"total": 8}, "MEMORY_MB": {"total": 4096, "max_unit": 2048}}

    def invs(**records: Any) -> dict[str, Any]:
        return {"resource_provider_generation": RP1_GEN, "inventories": dict(good_invs, **records)}

    inv_set("generation-missing", 400, {"inventories": good_invs})
    inv_set("inventories-missing", 400, {"resource_provider_generation": RP1_GEN})
    inv_set("inventories-list", 400, {"resource_provider_generation": RP1_GEN, "inventories": [good_invs]})
    inv_set("inventories-null", 400, {"resource_provider_generation": RP1_GEN, "inventories": None})
    inv_set("record-int", 400, invs(VCPU=8))
    inv_set("record-empty", 400, invs(VCPU={}))
    inv_set("record-unknown-field", 400, invs(VCPU={"total": 8, "used": 2}))
    inv_set("record-class-field", 400, invs(VCPU={"total": 8, "resource_class": "VCPU"}))
    inv_set("record-total-zero", 400, invs(VCPU={"total": 0}))
    inv_set("record-total-huge", 400, invs(VCPU={"total": 2**31}))
    inv_set("record-total-float", 400, invs(VCPU={"total": 8.5}))
    inv_set("record-reserved-above-total", 400, invs(VCPU={"total": 8, "reserved": 9}))
    inv_set("record-allocation-ratio-NaN", 400,
            Raw(json.dumps(invs(VCPU={"total": 8, "allocation_ratio": "NAN"})).replace('"NAN"', "NaN").encode()))
    inv_set("class-lowercase", 400, invs(vcpu={"total": 8}))
    inv_set("class-unknown", 400, invs(CUSTOM_NOPE={"total": 8}))
    inv_set("class-empty-key", 400, invs(**{"": {"total": 8}}))
    # Keys the class pattern does not match are not validated by the schema at all.
    inv_set("class-lowercase-record-int", 400, invs(vcpu=5))
    inv_set("class-lowercase-record-unknown-field", 400, invs(vcpu={"total": 8, "bogus": 1}))
    inv_set("class-lowercase-total-string", 400, invs(vcpu={"total": "8"}))
    inv_set("class-lowercase-total-missing", 400, invs(vcpu={"reserved": 1}))
    inv_set("class-emoji", 400, invs(**{EMOJI: {"total": 8}}))
    inv_set("class-NUL", 400, invs(**{"VCPU\x00": {"total": 8}}))
    inv_set("class-lone-surrogate", 400, invs(**{"\ud800": {"total": 8}}))
    for label, gen, status in [("stale", RP1_GEN - 1, 409), ("ahead", RP1_GEN + 1, 409), ("negative", -1, 409),
                               ("2**31", 2**31, 409), ("2**63", 2**63, 409), ("10**30", 10**30, 409),
                               ("string", str(RP1_GEN), 400), ("float", RP1_GEN + 0.5, 400), ("null", None, 400),
                               ("bool", True, 400)]:
        inv_set(f"generation-{label}", status, {"resource_provider_generation": gen, "inventories": good_invs},
                code="placement.concurrent_update" if status == 409 else None)
    inv_set("removes-class-in-use", 409,
            {"resource_provider_generation": RP1_GEN, "inventories": {"MEMORY_MB": good_invs["MEMORY_MB"]}},
            code="placement.inventory.inuse")
    inv_set("empty-while-in-use", 409, {"resource_provider_generation": RP1_GEN, "inventories": {}},
            code="placement.inventory.inuse")
    inv_set("missing-provider", 404, {"resource_provider_generation": 0, "inventories": {}}, rp=MISSING_RP)

    # ---- PUT /resource_providers/{uuid}/inventories/{class} ----
    def inv_put(suffix: str, status: int, body: Any, rc: str = "VCPU", rp: str = RP1, **kw: Any) -> None:
        add(Case(f"inv-update:{suffix}", "PUT", f"/resource_providers/{rp}/inventories/{rc}", status, body, **kw))

    one = {"resource_provider_generation": RP1_GEN, "total": 16}
    inv_put("generation-missing", 400, {"total": 16})
    inv_put("total-missing", 400, {"resource_provider_generation": RP1_GEN})
    inv_put("class-field", 400, dict(one, resource_class="VCPU"))
    inv_put("unknown-field", 400, dict(one, used=1))
    inv_put("total-zero", 400, dict(one, total=0))
    for n in HUGE:
        inv_put(f"total-huge-{n}", 400, dict(one, total=n))
        inv_put(f"max-unit-huge-{n}", 400, dict(one, max_unit=n))
    inv_put("reserved-above-total", 400, dict(one, reserved=17))
    inv_put("step-size-float", 400, dict(one, step_size=0.5))
    inv_put("allocation-ratio-Infinity", 400,
            Raw(b'{"resource_provider_generation": %d, "total": 16, "allocation_ratio": Infinity}' % RP1_GEN))
    inv_put("generation-stale", 409, dict(one, resource_provider_generation=RP1_GEN - 1),
            code="placement.concurrent_update")
    inv_put("generation-huge", 409, dict(one, resource_provider_generation=2**63), code="placement.concurrent_update")
    inv_put("no-such-inventory", 400, dict(one), rc="DISK_GB")
    # A class that does not exist is a 404 on this route (upstream's answer, seen by the
    # differential tester); a known class without inventory is the 400 above.
    inv_put("class-lowercase", 404, dict(one), rc="vcpu")
    inv_put("class-NUL", 400, dict(one), rc="VCPU%00")
    inv_put("class-emoji", 404, dict(one), rc=EMOJI)
    inv_put("missing-provider", 404, dict(one), rp=MISSING_RP)

    # ---- DELETE inventories ----
    for suffix, path, status, code, defect in [
        ("all-in-use", f"/resource_providers/{RP1}/inventories", 409, "placement.inventory.inuse", None),
        ("all-missing-provider", f"/resource_providers/{MISSING_RP}/inventories", 404, None, None),
        ("one-in-use", f"/resource_providers/{RP1}/inventories/VCPU", 409, "placement.concurrent_update", None),
        ("one-absent", f"/resource_providers/{RP1}/inventories/DISK_GB", 404, None, None),
        ("one-unknown-class", f"/resource_providers/{RP1}/inventories/CUSTOM_NOPE", 404, None, None),
        ("one-lowercase", f"/resource_providers/{RP1}/inventories/vcpu", 404, None, None),
        ("one-NUL", f"/resource_providers/{RP1}/inventories/VCPU%00", 400, None, None),
        ("one-missing-provider", f"/resource_providers/{MISSING_RP}/inventories/VCPU", 404, None, None),
    ]:
        add(Case(f"inv-delete:{suffix}", "DELETE", path, status, code=code, defect=defect))

    # ---- PUT /resource_providers/{uuid}/aggregates ----
    def agg(suffix: str, status: int, body: Any, rp: str = RP1, version: str | None = None, **kw: Any) -> None:
        add(Case(f"agg-{version or 'latest'}:{suffix}", "PUT", f"/resource_providers/{rp}/aggregates", status, body,
                 version=version, **kw))

    agg("list-form-at-latest", 400, [AGG1])
    agg("generation-missing", 400, {"aggregates": [AGG1]})
    agg("aggregates-missing", 400, {"resource_provider_generation": RP1_GEN})
    agg("aggregates-string", 400, {"aggregates": AGG1, "resource_provider_generation": RP1_GEN})
    agg("aggregates-null", 400, {"aggregates": None, "resource_provider_generation": RP1_GEN})
    agg("aggregate-int", 400, {"aggregates": [1], "resource_provider_generation": RP1_GEN})
    agg("aggregate-null", 400, {"aggregates": [None], "resource_provider_generation": RP1_GEN})
    agg("duplicates", 400, {"aggregates": [AGG1, AGG1], "resource_provider_generation": RP1_GEN})
    for i, bad in enumerate(BAD_UUIDS):
        agg(f"aggregate-bad-uuid-{i}", 400, {"aggregates": [AGG1, bad], "resource_provider_generation": RP1_GEN})
    agg("unknown-field", 400, {"aggregates": [AGG1], "resource_provider_generation": RP1_GEN, "foo": 1})
    agg("generation-stale", 409, {"aggregates": [AGG2], "resource_provider_generation": RP1_GEN - 1},
        code="placement.concurrent_update")
    agg("generation-huge", 409, {"aggregates": [AGG2], "resource_provider_generation": 10**30},
        code="placement.concurrent_update")
    agg("generation-string", 400, {"aggregates": [AGG2], "resource_provider_generation": "4"})
    agg("missing-provider", 404, {"aggregates": [AGG2], "resource_provider_generation": 0}, rp=MISSING_RP)
    agg("dict-form-before-1.19", 400, {"aggregates": [AGG2], "resource_provider_generation": RP1_GEN}, version="1.18")
    agg("bad-uuid", 400, ["not-a-uuid"], version="1.1")
    agg("duplicates", 400, [AGG2, AGG2], version="1.1")
    agg("string", 400, AGG2, version="1.1")
    agg("missing-provider", 404, [AGG2], rp=MISSING_RP, version="1.1")

    # ---- /traits/{name} ----
    for suffix, name, status in [
        ("not-custom", "HW_NOT_CUSTOM", 400),
        ("lowercase", "CUSTOM_lower", 400),
        ("prefix-only", "CUSTOM_", 400),
        ("too-long", "CUSTOM_" + "A" * 249, 400),
        ("space", "CUSTOM_A%20B", 400),
        ("emoji", "CUSTOM_" + EMOJI, 400),
        ("rtl", "CUSTOM_" + RTL, 400),
        ("NUL", "CUSTOM_A%00", 400),
        ("invalid-utf8", "CUSTOM_%ED%A0%80", 400),
        ("dash", "CUSTOM_A-B", 400),
        ("trailing-newline", "CUSTOM_NEWLINE%0A", 400),
    ]:
        add(Case(f"trait-put:{suffix}", "PUT", f"/traits/{name}", status,
                 defect=None))
    for suffix, name, status, defect in [
        ("standard", "HW_CPU_X86_SSE", 400, None),
        ("in-use", "CUSTOM_SEED", 409, None),
        ("unknown", "CUSTOM_NOPE", 404, None),
        ("lowercase", "custom_seed", 404, None),
        ("NUL", "CUSTOM_SEED%00", 400, None),
        ("emoji", EMOJI, 404, None),
        ("too-long", "CUSTOM_" + "A" * 300, 404, None),
    ]:
        add(Case(f"trait-delete:{suffix}", "DELETE", f"/traits/{name}", status, defect=defect))

    # ---- PUT/DELETE /resource_providers/{uuid}/traits ----
    def rp_traits(suffix: str, status: int, body: Any, rp: str = RP1, **kw: Any) -> None:
        add(Case(f"rp-traits:{suffix}", "PUT", f"/resource_providers/{rp}/traits", status, body, **kw))

    def traits(*names: Any, gen: Any = RP1_GEN) -> dict[str, Any]:
        return {"traits": list(names), "resource_provider_generation": gen}

    rp_traits("empty-object", 400, {})
    rp_traits("generation-missing", 400, {"traits": ["CUSTOM_SEED"]})
    rp_traits("traits-missing", 400, {"resource_provider_generation": RP1_GEN})
    rp_traits("traits-string", 400, {"traits": "CUSTOM_SEED", "resource_provider_generation": RP1_GEN})
    rp_traits("traits-object", 400, {"traits": {"CUSTOM_SEED": True}, "resource_provider_generation": RP1_GEN})
    rp_traits("trait-int", 400, traits(1))
    rp_traits("trait-null", 400, traits(None))
    rp_traits("trait-empty", 400, traits(""))
    rp_traits("trait-too-long", 400, traits("CUSTOM_" + "A" * 300))
    rp_traits("trait-unknown", 400, traits("CUSTOM_SEED", "CUSTOM_NOPE"))
    rp_traits("trait-lowercase", 400, traits("custom_seed"))
    rp_traits("trait-emoji", 400, traits("CUSTOM_" + EMOJI))
    rp_traits("trait-NUL", 400, traits("CUSTOM_SEED\x00"))
    rp_traits("trait-lone-surrogate", 400, traits("CUSTOM_\ud800"))
    rp_traits("unknown-field", 400, dict(traits("CUSTOM_SEED"), extra=1))
    rp_traits("generation-stale", 409, traits("CUSTOM_SPARE", gen=RP1_GEN - 1), code="placement.concurrent_update")
    rp_traits("generation-huge", 409, traits("CUSTOM_SPARE", gen=2**63), code="placement.concurrent_update")
    rp_traits("generation-float", 400, traits("CUSTOM_SPARE", gen=4.5))
    rp_traits("generation-null", 400, traits("CUSTOM_SPARE", gen=None))
    rp_traits("missing-provider", 404, traits("CUSTOM_SPARE", gen=0), rp=MISSING_RP)
    add(Case("rp-traits-delete:missing-provider", "DELETE", f"/resource_providers/{MISSING_RP}/traits", 404))
    add(Case("rp-traits-delete:not-a-uuid", "DELETE", "/resource_providers/not-a-uuid/traits", 404))

    # ---- /resource_classes ----
    def rc_post(suffix: str, status: int, body: Any, **kw: Any) -> None:
        add(Case(f"rc-create:{suffix}", "POST", "/resource_classes", status, body, **kw))

    rc_post("empty-object", 400, {})
    rc_post("standard-name", 400, {"name": "VCPU"})
    rc_post("lowercase", 400, {"name": "CUSTOM_lower"})
    rc_post("prefix-only", 400, {"name": "CUSTOM_"})
    rc_post("too-long", 400, {"name": "CUSTOM_" + "A" * 249})
    rc_post("int", 400, {"name": 1})
    rc_post("null", 400, {"name": None})
    rc_post("emoji", 400, {"name": "CUSTOM_" + EMOJI})
    rc_post("NUL", 400, {"name": "CUSTOM_A\x00"})
    rc_post("lone-surrogate", 400, {"name": "CUSTOM_\ud800"})
    rc_post("unknown-field", 400, {"name": "CUSTOM_NEW_RC", "links": []})
    rc_post("exists", 409, {"name": "CUSTOM_SEED_RC"})
    rc_post("trailing-newline", 400, {"name": "CUSTOM_NEWLINE\n"})
    for suffix, name, status, defect in [
        ("standard", "VCPU", 400, None),
        ("lowercase", "CUSTOM_lower", 400, None),
        ("too-long", "CUSTOM_" + "A" * 249, 400, None),
        ("NUL", "CUSTOM_A%00", 400, None),
        ("emoji", "CUSTOM_" + EMOJI, 400, None),
        ("trailing-newline", "CUSTOM_NEWLINE%0A", 400, None),
    ]:
        add(Case(f"rc-put:{suffix}", "PUT", f"/resource_classes/{name}", status, defect=defect))

    def rc_rename(suffix: str, status: int, body: Any, name: str = "CUSTOM_SPARE_RC", **kw: Any) -> None:
        add(Case(f"rc-rename-1.6:{suffix}", "PUT", f"/resource_classes/{name}", status, body, version="1.6", **kw))

    rc_rename("empty-object", 400, {})
    rc_rename("standard-name", 400, {"name": "VCPU"})
    rc_rename("lowercase", 400, {"name": "CUSTOM_lower"})
    rc_rename("int", 400, {"name": 7})
    rc_rename("unknown-field", 400, {"name": "CUSTOM_RENAMED_RC", "x": 1})
    rc_rename("to-existing", 409, {"name": "CUSTOM_SEED_RC"})
    rc_rename("trailing-newline", 400, {"name": "CUSTOM_NEWLINE\n"})
    rc_rename("standard-class", 400, {"name": "CUSTOM_RENAMED_RC"}, name="VCPU")
    rc_rename("unknown-class", 404, {"name": "CUSTOM_RENAMED_RC"}, name="CUSTOM_NOPE")
    rc_rename("NUL-class", 400, {"name": "CUSTOM_RENAMED_RC"}, name="CUSTOM_SPARE_RC%00")
    for suffix, name, status, defect in [
        ("standard", "VCPU", 400, None),
        ("unknown", "CUSTOM_NOPE", 404, None),
        ("in-use", "CUSTOM_SEED_RC", 409, None),
        ("NUL", "CUSTOM_SPARE_RC%00", 400, None),
        ("emoji", EMOJI, 404, None),
    ]:
        add(Case(f"rc-delete:{suffix}", "DELETE", f"/resource_classes/{name}", status, defect=defect))

    # ---- PUT /allocations/{consumer_uuid} ----
    def alloc(suffix: str, status: int, body: Any, consumer: str = C3, version: str | None = None, **kw: Any) -> None:
        add(Case(f"alloc-put-{version or 'latest'}:{suffix}", "PUT", f"/allocations/{consumer}", status, body,
                 version=version, **kw))

    good = alloc_body({RP1: {"VCPU": 1}})
    for fld in ("allocations", "project_id", "user_id", "consumer_generation", "consumer_type"):
        alloc(f"{fld}-missing", 400, {k: v for k, v in good.items() if k != fld})
    alloc("list-form-at-latest", 400, alloc_list_body({RP1: {"VCPU": 1}}, consumer_generation=None,
                                                       consumer_type="INSTANCE"))
    alloc("allocations-null", 400, dict(good, allocations=None))
    alloc("allocations-list-of-uuids", 400, dict(good, allocations=[RP1]))
    for i, bad in enumerate(BAD_UUIDS):
        status = 400
        # DASHES passes the schema's pattern, so the provider lookup refuses it.
        alloc(f"provider-key-bad-uuid-{i}", status, alloc_body({bad: {"VCPU": 1}}),
              keeps_consumers=(C3,) if bad == DASHES else ())
    alloc("provider-missing", 400, alloc_body({MISSING_RP: {"VCPU": 1}}), keeps_consumers=(C3,))
    alloc("provider-uppercase-missing", 400, alloc_body({MISSING_RP.upper(): {"VCPU": 1}}), keeps_consumers=(C3,))
    alloc("provider-trailing-newline", 400, alloc_body({RP1 + "\n": {"VCPU": 1}}), keeps_consumers=(C3,))
    alloc("provider-entry-not-object", 400, dict(good, allocations={RP1: 1}))
    alloc("provider-entry-resources-missing", 400, dict(good, allocations={RP1: {"generation": RP1_GEN}}))
    alloc("provider-entry-unknown-field", 400, dict(good, allocations={RP1: {"resources": {"VCPU": 1}, "x": 1}}))
    alloc("provider-entry-generation-string", 400,
          dict(good, allocations={RP1: {"resources": {"VCPU": 1}, "generation": "4"}}))
    alloc("resources-empty", 400, alloc_body({RP1: {}}))
    alloc("resources-list", 400, dict(good, allocations={RP1: {"resources": [["VCPU", 1]]}}))
    for label, amount in [("zero", 0), ("negative", -1), ("float", 1.5), ("string", "1"), ("bool", True),
                          ("null", None), ("list", [1])]:
        alloc(f"amount-{label}", 400, alloc_body({RP1: {"VCPU": amount}}))
    alloc("amount-NaN", 400, Raw(json.dumps(good).replace('"VCPU": 1', '"VCPU": NaN').encode()))
    alloc("amount-Infinity", 400, Raw(json.dumps(good).replace('"VCPU": 1', '"VCPU": Infinity').encode()))
    for n in HUGE:
        alloc(f"amount-huge-{n}", 409, alloc_body({RP1: {"VCPU": n}}))
    alloc("amount-over-capacity", 409, alloc_body({RP1: {"VCPU": 7}}))
    alloc("amount-over-max-unit", 409, alloc_body({RP1: {"MEMORY_MB": 2049}}))
    alloc("class-without-inventory", 409, alloc_body({RP1: {"DISK_GB": 1}}))
    alloc("class-lowercase", 400, alloc_body({RP1: {"vcpu": 1}}))
    alloc("class-unknown", 400, alloc_body({RP1: {"CUSTOM_NOPE": 1}}))
    alloc("class-emoji", 400, alloc_body({RP1: {EMOJI: 1}}))
    alloc("class-NUL", 400, alloc_body({RP1: {"VCPU\x00": 1}}))
    for fld in ("project_id", "user_id"):
        for label, value, defect in [("empty", "", None), ("too-long", "p" * 256, None), ("int", 1, None),
                                     ("null", None, None), ("NUL", "p\x00q", None),
                                     ("lone-surrogate", "p\ud800", None)]:
            alloc(f"{fld}-{label}", 400, dict(good, **{fld: value}), defect=defect)
    for label, value, status in [("string", "0", 400), ("float", 0.5, 400), ("bool", False, 400),
                                 ("for-new-consumer", 0, 409), ("huge-for-new-consumer", 2**63, 409),
                                 ("negative-for-new-consumer", -1, 409)]:
        alloc(f"consumer_generation-{label}", status, dict(good, consumer_generation=value),
              code="placement.concurrent_update" if status == 409 else None)
    alloc("consumer_generation-null-for-existing", 409, alloc_body({RP1: {"VCPU": 1}}), consumer=C1,
          code="placement.concurrent_update")
    alloc("consumer_generation-stale", 409, alloc_body({RP1: {"VCPU": 1}}, consumer_generation=C1_GEN - 1),
          consumer=C1, code="placement.concurrent_update")
    alloc("consumer_generation-ahead", 409, alloc_body({RP1: {"VCPU": 1}}, consumer_generation=C1_GEN + 1),
          consumer=C1, code="placement.concurrent_update")
    for label, value in [("lowercase", "instance"), ("empty", ""), ("too-long", "I" * 256), ("int", 1),
                         ("null", None), ("emoji", EMOJI), ("NUL", "INSTANCE\x00"), ("trailing-newline", "INSTANCE\n")]:
        alloc(f"consumer_type-{label}", 400, dict(good, consumer_type=value),
              defect=None)
    for label, value in [("string", "x"), ("empty", {}), ("empty-list", {"g": []}), ("bad-uuid", {"g": ["nope"]}),
                         ("int-items", {"g": [1]})]:
        alloc(f"mappings-{label}", 400, dict(good, mappings=value))
    alloc("unknown-field", 400, dict(good, extra=True))
    for label, consumer in [("not-a-uuid", "not-a-uuid"), ("short", C3[:-1]), ("dashes", DASHES),
                            ("emoji", EMOJI), ("NUL", C3 + "%00"), ("invalid-utf8", "%ED%A0%80")]:
        alloc(f"path-{label}", 400, good, consumer=consumer)
    # Older microversions.
    alloc("dict-form", 400, {"allocations": {RP1: {"resources": {"VCPU": 1}}}, "project_id": P1, "user_id": U1},
          version="1.11")
    alloc("list-empty", 400, alloc_list_body({}), version="1.11")
    alloc("list-item-resources-missing", 400,
          {"allocations": [{"resource_provider": {"uuid": RP1}}], "project_id": P1, "user_id": U1}, version="1.11")
    alloc("list-item-provider-bad-uuid", 400, alloc_list_body({"not-a-uuid": {"VCPU": 1}}), version="1.11")
    alloc("list-item-provider-missing", 400, alloc_list_body({MISSING_RP: {"VCPU": 1}}), version="1.11",
          keeps_consumers=(C3,))
    alloc("list-item-provider-extra-field", 400,
          {"allocations": [{"resource_provider": {"uuid": RP1, "name": "x"}, "resources": {"VCPU": 1}}],
           "project_id": P1, "user_id": U1}, version="1.11")
    alloc("list-project-missing", 400, {"allocations": alloc_list_body({RP1: {"VCPU": 1}})["allocations"],
                                        "user_id": U1}, version="1.8")
    alloc("list-project-before-1.8", 400, alloc_list_body({RP1: {"VCPU": 1}}), version="1.7")
    alloc("list-amount-zero", 400, {"allocations": alloc_list_body({RP1: {"VCPU": 0}})["allocations"]},
          version="1.0")
    alloc("list-project-at-1.0", 400, alloc_list_body({RP1: {"VCPU": 1}}), version="1.0")
    alloc("dict-empty-before-1.28", 400, {"allocations": {}, "project_id": P1, "user_id": U1}, version="1.27")
    alloc("consumer_generation-before-1.28", 400,
          {"allocations": {RP1: {"resources": {"VCPU": 1}}}, "project_id": P1, "user_id": U1,
           "consumer_generation": None}, version="1.27")
    alloc("mappings-before-1.34", 400,
          {"allocations": {RP1: {"resources": {"VCPU": 1}}}, "project_id": P1, "user_id": U1,
           "consumer_generation": None, "mappings": {"g": [RP1]}}, version="1.33")
    alloc("consumer_type-before-1.38", 400,
          {"allocations": {RP1: {"resources": {"VCPU": 1}}}, "project_id": P1, "user_id": U1,
           "consumer_generation": None, "consumer_type": "INSTANCE"}, version="1.37")
    alloc("consumer_type-missing-at-1.38", 400,
          {"allocations": {RP1: {"resources": {"VCPU": 1}}}, "project_id": P1, "user_id": U1,
           "consumer_generation": None}, version="1.38")

    # ---- DELETE /allocations/{consumer_uuid} ----
    for suffix, consumer, status in [
        ("no-allocations", C3, 404),
        ("not-a-uuid", "not-a-uuid", 404),
        ("emoji", EMOJI, 404),
        ("NUL", C1 + "%00", 400),  # a NUL in the path is refused before any lookup
    ]:
        add(Case(f"alloc-delete:{suffix}", "DELETE", f"/allocations/{consumer}", status))

    # ---- POST /allocations ----
    def post(suffix: str, status: int, body: Any, **kw: Any) -> None:
        add(Case(f"alloc-post:{suffix}", "POST", "/allocations", status, body, **kw))

    post("empty-object", 400, {})
    post("list", 400, [good])
    post("put-form", 400, good)
    post("consumer-not-a-uuid", 400, {"not-a-uuid": good})
    post("consumer-dashes", 400, {DASHES: good})
    post("consumer-dashes-empty", 400, {DASHES: dict(good, allocations={})})
    post("consumer-braces", 400, {"{" + C3 + "}": good})
    post("consumer-trailing-newline", 400, {C3 + "\n": good})
    post("consumer-value-null", 400, {C3: None})
    post("consumer-value-list", 400, {C3: [good]})
    post("consumer-unknown-field", 400, {C3: dict(good, extra=1)})
    post("consumer-generation-missing", 400, {C3: {k: v for k, v in good.items() if k != "consumer_generation"}})
    post("consumer-type-missing", 400, {C3: {k: v for k, v in good.items() if k != "consumer_type"}})
    post("one-good-one-missing-provider", 400, {C3: good, C4: alloc_body({MISSING_RP: {"VCPU": 1}})},
         keeps_consumers=(C3, C4))
    post("one-good-one-unknown-class", 400, {C3: good, C4: alloc_body({RP1: {"CUSTOM_NOPE": 1}})})
    post("one-good-one-over-capacity", 409, {C3: good, C4: alloc_body({RP1: {"VCPU": 6}})})
    post("two-together-over-capacity", 409, {C3: alloc_body({RP1: {"VCPU": 3}}), C4: alloc_body({RP1: {"VCPU": 4}})})
    post("one-good-one-stale-generation", 409,
         {C3: good, C1: alloc_body({RP1: {"VCPU": 1}}, consumer_generation=C1_GEN + 5)},
         code="placement.concurrent_update")
    post("one-good-one-bad-amount", 400, {C3: good, C4: alloc_body({RP1: {"VCPU": 0}})})
    post("amount-huge", 409, {C3: alloc_body({RP1: {"VCPU": 10**30}})})
    post("NaN-amount", 400, Raw(json.dumps({C3: good}).replace('"VCPU": 1', '"VCPU": NaN').encode()))

    # ---- GET query strings ----
    def q(suffix: str, path: str, status: int, version: str | None = None, defect: str | None = None) -> None:
        add(Case(f"query:{suffix}", "GET", path, status, version=version, defect=defect))

    rps = "/resource_providers"
    q("rp-unknown-param", f"{rps}?color=blue", 400)
    q("rp-uuid-bad", f"{rps}?uuid=not-a-uuid", 400)
    q("rp-uuid-empty", f"{rps}?uuid=", 400)
    q("rp-uuid-dashes", f"{rps}?uuid={DASHES}", 400)
    q("rp-uuid-NUL", f"{rps}?uuid={RP1}%00", 400)
    q("rp-name-NUL", f"{rps}?name=bad%00name", 400)
    q("rp-name-invalid-utf8", f"{rps}?name=%ED%A0%80", 400)
    q("rp-name-emoji-ok", f"{rps}?name={EMOJI}", 200)
    q("rp-name-rtl-ok", f"{rps}?name={RTL}", 200)
    q("rp-name-long-ok", f"{rps}?name={'x' * 5000}", 200)
    q("rp-member_of-bad", f"{rps}?member_of=not-a-uuid", 400)
    q("rp-member_of-in-empty", f"{rps}?member_of=in:", 400)
    q("rp-member_of-in-one-bad", f"{rps}?member_of=in:{AGG1},nope", 400)
    q("rp-member_of-comma-without-in", f"{rps}?member_of={AGG1},{AGG2}", 400)
    q("rp-member_of-forbidden-bad", f"{rps}?member_of=!in:nope", 400)
    q("rp-member_of-forbidden-before-1.32", f"{rps}?member_of=!{AGG1}", 400, version="1.31")
    q("rp-member_of-repeated-before-1.24", f"{rps}?member_of={AGG1}&member_of={AGG2}", 400, version="1.23")
    q("rp-member_of-before-1.3", f"{rps}?member_of={AGG1}", 400, version="1.2")
    q("rp-member_of-NUL", f"{rps}?member_of={AGG1}%00", 400)
    for label, value in [("empty", ""), ("no-amount", "VCPU"), ("colon-only", "VCPU:"), ("word", "VCPU:x"),
                         ("zero", "VCPU:0"), ("negative", "VCPU:-1"), ("float", "VCPU:1.5"), ("exp", "VCPU:1e3"),
                         ("lowercase", "vcpu:1"), ("unknown", "CUSTOM_NOPE:1"), ("three-parts", "VCPU:1:2"),
                         ("trailing-comma", "VCPU:1,"), ("NUL-class", "VCPU%00:1")]:
        q(f"rp-resources-{label}", f"{rps}?resources={value}", 400)
    q("rp-resources-before-1.4", f"{rps}?resources=VCPU:1", 400, version="1.3")
    for n in HUGE:
        # Well formed, just more than any provider can have: an empty answer.
        q(f"rp-resources-huge-{n}", f"{rps}?resources=VCPU:{n}", 200)
    for label, value, version in [("empty", "", None), ("comma", "CUSTOM_SEED,,HW_CPU_X86_AVX", None),
                                  ("bang-only", "!", None), ("unknown", "CUSTOM_NOPE", None),
                                  ("forbidden-before-1.22", "!CUSTOM_SEED", "1.21"),
                                  ("in-empty", "in:", None),
                                  ("in-with-forbidden", "in:CUSTOM_SEED,!CUSTOM_SPARE", None),
                                  ("in-before-1.39", "in:CUSTOM_SEED", "1.38"),
                                  ("before-1.18", "CUSTOM_SEED", "1.17"),
                                  ("NUL", "CUSTOM_SEED%00", None)]:
        q(f"rp-required-{label}", f"{rps}?required={value}", 400, version=version)
    q("rp-in_tree-bad", f"{rps}?in_tree=not-a-uuid", 400)
    q("rp-in_tree-empty", f"{rps}?in_tree=", 400)
    q("rp-in_tree-before-1.14", f"{rps}?in_tree={RP1}", 400, version="1.13")
    q("rp-in_tree-missing-ok", f"{rps}?in_tree={MISSING_RP}", 200)
    q("usages-project-missing", "/usages", 400)
    q("usages-project-empty", "/usages?project_id=", 400)
    q("usages-project-too-long", f"/usages?project_id={'p' * 256}", 400)
    q("usages-project-NUL", "/usages?project_id=p%00q", 400)
    q("usages-user-empty", f"/usages?project_id={P1}&user_id=", 400)
    q("usages-user-NUL", f"/usages?project_id={P1}&user_id=u%00", 400)
    q("usages-unknown-param", f"/usages?project_id={P1}&color=blue", 400)
    q("usages-consumer_type-lowercase", f"/usages?project_id={P1}&consumer_type=instance", 400)
    q("usages-consumer_type-before-1.38", f"/usages?project_id={P1}&consumer_type=INSTANCE", 400, version="1.37")
    q("usages-project-emoji-ok", f"/usages?project_id={EMOJI}", 200)
    q("traits-name-no-operator", "/traits?name=CUSTOM_SEED", 400)
    q("traits-associated-maybe", "/traits?associated=maybe", 400)
    q("traits-associated-empty", "/traits?associated=", 400)
    q("traits-unknown-param", "/traits?color=blue", 400)
    q("traits-name-in-NUL", "/traits?name=in:CUSTOM_SEED%00", 400)
    q("traits-name-startswith-NUL", "/traits?name=startswith:CUSTOM%00", 400)
    q("traits-name-invalid-utf8", "/traits?name=in:%ED%A0%80", 400)
    q("traits-name-in-emoji-ok", f"/traits?name=in:{EMOJI}", 200)
    q("traits-before-1.6", "/traits", 404, version="1.5")

    ids = [c.id for c in cases]
    dupes = {i for i in ids if ids.count(i) > 1}
    assert not dupes, dupes
    return cases


CASES = _cases()


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, world: World, backend: str) -> None:
    world.ensure_seeded()
    resp = case.send(world.client)
    changes = world.changes()  # before any assertion, so a failed case still gets the world restored
    with expecting(case.defect, backend):
        check_case(case, resp, changes)


def check_case(case: Case, resp: httpx.Response, changes: list[str]) -> None:
    assert resp.status_code == case.status, f"{case.method} {case.path[:200]}: {resp.status_code} {resp.text[:600]}"
    if case.status >= 400:
        microversion_error = "openstack-api-version" in case.headers
        error = check_envelope(
            resp, case.status, version="1.0" if microversion_error else case.version, code=case.code
        )
        if microversion_error and case.status == 406:
            assert (error.get("min_version"), error.get("max_version")) == ("1.0", "1.39"), error
    if case.status == 405 and case.allow is not None:
        allowed = {m.strip() for m in resp.headers.get("allow", "").split(",") if m.strip()}
        assert allowed == {m.strip() for m in case.allow.split(",")}, resp.headers
    if case.keeps_consumers:
        assert len(changes) == 1 and changes[0].startswith("table consumers: removed [], added/changed ["), changes
        for consumer in case.keeps_consumers:
            assert f"'{consumer}', " in changes[0], changes
        assert changes[0].count("', ") == len(case.keeps_consumers), changes
        return
    assert not changes, "database changed:\n" + "\n".join(changes)


# ---- well-spelled unicode and oddly spelled uuids: accepted, and stored canonically ----------


@pytest.mark.parametrize("name", [EMOJI, RTL, "\U0001f600" * 200, "名前" * 100, "e\u0301\u0300\u0489"],
                         ids=["emoji", "rtl", "200-emoji", "cjk", "combining"])
def test_unicode_provider_names_round_trip(name: str, world: World) -> None:
    world.ensure_seeded()
    world.clean = False
    resp = world.client.post("/resource_providers", json={"name": name})
    assert resp.status_code == 200, resp.text
    assert resp.json()["name"] == name
    found = world.client.get("/resource_providers", params={"name": name})
    assert found.status_code == 200, found.text
    assert [p["name"] for p in found.json()["resource_providers"]] == [name]


def _odd_spellings(uuid: str) -> list[str]:
    return [uuid.upper(), uuid.replace("-", ""), "{" + uuid + "}", "urn:uuid:" + uuid]


ODD = ["upper", "no-dashes", "braces", "urn"]
# Where a uuid names something that must already exist (parent, aggregate, allocation
# target, query filter), a 36-character spelling is kept as given, as upstream does; the
# other spellings are rewritten to the dashed form. (Creates and consumer paths normalize
# every spelling.)
REWRITTEN = [1, 2, 3]


@pytest.mark.parametrize("spelling", range(4), ids=ODD)
def test_odd_uuid_provider_create_is_canonical(spelling: int, world: World) -> None:
    world.ensure_seeded()
    world.clean = False
    resp = world.client.post("/resource_providers", json={"name": "odd", "uuid": _odd_spellings(NEW_RP)[spelling]})
    assert resp.status_code == 200, resp.text
    assert resp.json()["uuid"] == NEW_RP


@pytest.mark.parametrize("spelling", REWRITTEN, ids=ODD[1:])
def test_odd_uuid_parent_is_found(spelling: int, world: World) -> None:
    world.ensure_seeded()
    world.clean = False
    parent = _odd_spellings(RP3)[spelling]
    resp = world.client.post("/resource_providers", json={"name": "odd-child", "parent_provider_uuid": parent})
    assert resp.status_code == 200, resp.text
    assert resp.json()["parent_provider_uuid"] == RP3


@pytest.mark.parametrize("spelling", REWRITTEN, ids=ODD[1:])
@pytest.mark.parametrize("version", ["1.1", "1.19"])
def test_odd_uuid_aggregates_are_canonical(spelling: int, version: str, world: World) -> None:
    world.ensure_seeded()
    world.clean = False
    agg = _odd_spellings(AGG2)[spelling]
    body: Any = [agg] if version == "1.1" else {"aggregates": [agg], "resource_provider_generation": RP3_GEN}
    resp = world.client.put(
        f"/resource_providers/{RP3}/aggregates",
        json=body,
        headers={"openstack-api-version": f"placement {version}"},
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["aggregates"] == [AGG2]
    assert world.client.get(f"/resource_providers/{RP3}/aggregates").json()["aggregates"] == [AGG2]
    # The canonical spelling finds it too.
    member = world.client.get(f"/resource_providers?member_of={AGG2}").json()["resource_providers"]
    assert [p["uuid"] for p in member] == [RP3]


@pytest.mark.parametrize("spelling", range(4), ids=ODD)
def test_odd_uuid_consumer_path_is_canonical(spelling: int, world: World) -> None:
    world.ensure_seeded()
    world.clean = False
    consumer = _odd_spellings(C3)[spelling]
    resp = world.client.put(f"/allocations/{consumer}", json=alloc_body({RP1: {"VCPU": 1}}))
    assert resp.status_code == 204, resp.text
    assert world.client.get(f"/allocations/{C3}").json()["allocations"][RP1]["resources"] == {"VCPU": 1}


@pytest.mark.parametrize("spelling", REWRITTEN, ids=ODD[1:])
def test_odd_uuid_list_form_provider_is_found(
    spelling: int, world: World
) -> None:
    world.ensure_seeded()
    world.clean = False
    rp = _odd_spellings(RP1)[spelling]
    resp = world.client.put(
        f"/allocations/{C3}",
        json=alloc_list_body({rp: {"VCPU": 1}}),
        headers={"openstack-api-version": "placement 1.11"},
    )
    assert resp.status_code == 204, resp.text
    assert world.client.get(f"/allocations/{C3}").json()["allocations"][RP1]["resources"] == {"VCPU": 1}


@pytest.mark.parametrize("spelling", REWRITTEN, ids=ODD[1:])
@pytest.mark.parametrize("param", ["uuid", "in_tree", "member_of"])
def test_odd_uuid_query_filters_match(
    spelling: int, param: str, world: World
) -> None:
    world.ensure_seeded()
    value = _odd_spellings(AGG1 if param == "member_of" else RP1)[spelling]
    resp = world.client.get("/resource_providers", params={param: value})
    assert resp.status_code == 200, resp.text
    found = sorted(p["uuid"] for p in resp.json()["resource_providers"])
    assert found == {"uuid": [RP1], "in_tree": [RP1, RP2], "member_of": [RP1]}[param]


# ---- property tests ------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    version: str | None
    valid: Any

    def __repr__(self) -> str:
        return f"{self.method} {self.path} @{self.version or 'latest'}"


FUZZ_ROUTES = [
    Route("POST", "/resource_providers", None, {"name": "fuzz-rp", "uuid": NEW_RP, "parent_provider_uuid": RP3}),
    Route("PUT", f"/resource_providers/{RP3}", None, {"name": "bad-input-other", "parent_provider_uuid": None}),
    Route("POST", f"/resource_providers/{RP3}/inventories", None,
          {"resource_class": "DISK_GB", "total": 10, "reserved": 1, "min_unit": 1, "max_unit": 5, "step_size": 1,
           "allocation_ratio": 1.5}),
    Route("PUT", f"/resource_providers/{RP1}/inventories", None,
          {"resource_provider_generation": RP1_GEN,
           "inventories": {"VCPU": {"total": 8, "reserved": 0, "allocation_ratio": 2.0},
                           "MEMORY_MB": {"total": 4096, "max_unit": 2048}}}),
    Route("PUT", f"/resource_providers/{RP1}/inventories/VCPU", None,
          {"resource_provider_generation": RP1_GEN, "total": 8, "reserved": 1, "step_size": 1}),
    Route("PUT", f"/resource_providers/{RP1}/aggregates", None,
          {"aggregates": [AGG1, AGG2], "resource_provider_generation": RP1_GEN}),
    Route("PUT", f"/resource_providers/{RP1}/aggregates", "1.1", [AGG1, AGG2]),
    Route("PUT", f"/resource_providers/{RP1}/traits", None,
          {"traits": ["CUSTOM_SEED", "CUSTOM_SPARE"], "resource_provider_generation": RP1_GEN}),
    Route("POST", "/resource_classes", None, {"name": "CUSTOM_FUZZ"}),
    Route("PUT", "/resource_classes/CUSTOM_SPARE_RC", "1.6", {"name": "CUSTOM_FUZZ"}),
    Route("PUT", f"/allocations/{C3}", None,
          dict(alloc_body({RP1: {"VCPU": 1, "MEMORY_MB": 256}}), mappings={"g1": [RP1]})),
    Route("PUT", f"/allocations/{C1}", None, alloc_body({RP1: {"VCPU": 3}}, consumer_generation=C1_GEN)),
    Route("PUT", f"/allocations/{C3}", "1.11", alloc_list_body({RP1: {"VCPU": 1}})),
    Route("PUT", f"/allocations/{C3}", "1.12",
          {"allocations": {RP1: {"resources": {"VCPU": 1}, "generation": RP1_GEN}}, "project_id": P1, "user_id": U1}),
    Route("POST", "/allocations", None,
          {C3: alloc_body({RP1: {"VCPU": 1}}), C4: alloc_body({RP2: {"CUSTOM_SEED_RC": 2}}, consumer_type="X")}),
]

SPECIAL_STRINGS = [
    "", " ", RP1, RP2, RP3, MISSING_RP, AGG1, C1, DASHES, "not-a-uuid", RP1.upper(), "{" + RP1 + "}",
    "urn:uuid:" + RP1, "VCPU", "MEMORY_MB", "DISK_GB", "vcpu", "CUSTOM_SEED", "CUSTOM_SEED_RC", "CUSTOM_NOPE",
    "CUSTOM_", "INSTANCE", "instance", "bad-input-root", NUL_NAME, SURROGATE, LONE_LOW, EMOJI, RTL, LONG,
    "x" * 256, "\u0000", "null", "true", "0", "-1", "1e309", "NaN",
]
SPECIAL_NUMBERS = [0, -1, 1, 2, 2**31 - 1, 2**31, 2**32, 2**53 + 1, 2**63 - 1, 2**63, 2**64, 10**30, -(2**63),
                   0.0, -0.0, 0.5, 1.0, 1e-320, 1e39, 3.4e38, float("nan"), float("inf"), float("-inf")]
KNOWN_KEYS = [
    "name", "uuid", "parent_provider_uuid", "resource_provider_generation", "total", "reserved", "min_unit",
    "max_unit", "step_size", "allocation_ratio", "resource_class", "inventories", "aggregates", "traits",
    "allocations", "resources", "resource_provider", "project_id", "user_id", "consumer_generation",
    "consumer_type", "mappings", "generation", "VCPU", "vcpu", RP1, C3, DASHES, "", "\u0000", SURROGATE,
]

json_leaves = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.sampled_from(SPECIAL_NUMBERS)
    | st.floats()
    | st.text(max_size=12)
    | st.sampled_from(SPECIAL_STRINGS)
)
json_values = st.recursive(
    json_leaves,
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from(KNOWN_KEYS) | st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
raw_bodies = st.sampled_from(
    [b"", b"{", b"[", b'{"a":', b"\xff", b"NaN", b"[" * 5000, b'{"name": "\\ud800"}', b"\x00", b"{}" * 3]
) | st.binary(max_size=40)


def _encode(value: Any) -> bytes:
    return value if isinstance(value, bytes) else json.dumps(value, allow_nan=True).encode()


def _walk(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield path
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _walk(v, path + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _walk(v, path + (i,))


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def _numbers(value: Any) -> Iterator[float]:
    if isinstance(value, float):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _numbers(v)
    elif isinstance(value, list):
        for v in value:
            yield from _numbers(v)


def known_defect(route: Route, body: Any, backend: str) -> str | None:
    """The defect in DEFECTS (not yet fixed) that this input may trip, if any."""
    if STRICT:
        return None
    found: list[str] = []  # one check per open defect; none are open now
    return _applicable(found, backend)


def _applicable(found: list[str], backend: str) -> str | None:
    for defect in found:
        if defect in DEFECTS:
            backends = DEFECTS[defect][0]
            if backends is None or backend in backends:
                return defect
    return None


def check_property(world: World, route: Route, body: Any, backend: str) -> None:
    world.ensure_seeded()
    headers = {"openstack-api-version": f"placement {route.version or 'latest'}", "content-type": "application/json"}
    resp = world.client.request(route.method, route.path, content=_encode(body), headers=headers)
    note(f"{route!r} {_encode(body)[:300]!r} -> {resp.status_code} {resp.text[:300]}")
    changes = world.changes() if resp.status_code >= 400 else []
    defect = known_defect(route, body, backend)
    event(f"{resp.status_code}" + (f" (may be {defect})" if defect else ""))
    if resp.status_code >= 500 and defect is not None:
        note(f"known defect {defect}")
        world.clean = False
        return
    assert resp.status_code < 500, resp.text
    if resp.status_code >= 400:
        check_envelope(resp, resp.status_code, version=route.version, code=_any_code(resp))
        if changes and defect is not None:
            return
        assert not changes, "database changed by a refused request:\n" + "\n".join(changes)
    else:
        assert resp.status_code in (200, 201, 204), resp.status_code
        world.clean = False  # accepted: the world moved on
        if defect is None:
            _check_accepted_is_sane(route, body, resp)


def _any_code(resp: httpx.Response) -> str | None:
    try:
        code = resp.json()["errors"][0].get("code")
    except Exception:  # the envelope check reports it
        return None
    assert code is None or (isinstance(code, str) and code.startswith("placement.")), code
    return code


def _check_accepted_is_sane(route: Route, body: Any, resp: httpx.Response) -> None:
    """An accepted write must not have taken values the API never allows."""
    for n in _numbers(body):
        assert math.isfinite(n), f"accepted a non-finite number: {resp.status_code}"
    for text in _strings(body):
        assert "\x00" not in text, f"accepted a NUL character: {resp.status_code}"
        assert not any(0xD800 <= ord(ch) <= 0xDFFF for ch in text), f"accepted a lone surrogate: {resp.status_code}"


PROPERTY_SETTINGS = settings(
    max_examples=int(os.environ.get("ALLOTMENT_BAD_INPUT_EXAMPLES", "150")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)


@PROPERTY_SETTINGS
@given(route=st.sampled_from(FUZZ_ROUTES), body=json_values | raw_bodies)
def test_random_json_is_refused_cleanly(world: World, backend: str, route: Route, body: Any) -> None:
    check_property(world, route, body, backend)


def _mutate(data: st.DataObject, value: Any) -> Any:
    value = copy.deepcopy(value)
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        paths = list(_walk(value))
        path = data.draw(st.sampled_from(paths), label="path")
        op = data.draw(
            st.sampled_from(["replace", "special", "special", "special", "delete", "add", "wrap", "stringify"]),
            label="op",
        )
        new: Any
        target = value
        for key in path:
            target = target[key]
        if op == "replace":
            new = data.draw(json_values, label="value")
        elif op == "special":
            new = data.draw(st.sampled_from(SPECIAL_NUMBERS) | st.sampled_from(SPECIAL_STRINGS), label="value")
        elif op == "wrap":
            new = [target]
        elif op == "stringify":
            new = json.dumps(target, allow_nan=True)
        elif op == "add":
            if isinstance(target, dict):
                target[data.draw(st.sampled_from(KNOWN_KEYS) | st.text(max_size=8), label="key")] = data.draw(
                    json_values, label="value"
                )
            elif isinstance(target, list):
                target.append(data.draw(json_values, label="value"))
            continue
        else:  # delete
            if not path:
                new = None
            else:
                parent = value
                for key in path[:-1]:
                    parent = parent[key]
                del parent[path[-1]]
                continue
        if not path:
            value = new
        else:
            parent = value
            for key in path[:-1]:
                parent = parent[key]
            parent[path[-1]] = new
    return value


@PROPERTY_SETTINGS
@given(route=st.sampled_from(FUZZ_ROUTES), data=st.data())
def test_mutated_valid_bodies_are_refused_cleanly(
    world: World, backend: str, route: Route, data: st.DataObject
) -> None:
    body = _mutate(data, route.valid)
    check_property(world, route, body, backend)


def test_valid_fuzz_bodies_are_valid(world: World) -> None:
    """The starting points of the mutations are accepted (else the mutation test proves little)."""
    for route in FUZZ_ROUTES:
        world.ensure_seeded()
        headers = {"openstack-api-version": f"placement {route.version or 'latest'}"}
        resp = world.client.request(route.method, route.path, json=route.valid, headers=headers)
        world.clean = False
        assert resp.status_code in (200, 201, 204), f"{route!r}: {resp.status_code} {resp.text}"


def test_schema_upgrade_on_a_fresh_database(backend: str) -> None:
    """The schema and the standard names install as shipped, twice (the second run is a no-op)."""
    with fresh_database(backend) as url:
        store = Database(url)
        try:
            upgrade(store)
            upgrade(store)
            with store.read() as conn:
                names = set(conn.execute(sa.select(tables.resource_classes.c.name)).scalars())
            assert {"VCPU", "MEMORY_MB", "DISK_GB"} <= names
        finally:
            store.dispose()


def test_snapshot_sees_changes_and_restore_undoes_them(world: World) -> None:
    """The oracle itself: a write shows in both views, and the restore puts everything back."""
    world.ensure_seeded()
    assert world.changes(full=True) == []
    assert world.client.put("/traits/CUSTOM_ORACLE").status_code == 201
    assert world.client.put(
        f"/resource_providers/{RP3}", json={"name": "bad-input-other-renamed"}
    ).status_code == 200
    assert world.client.delete(f"/allocations/{C2}").status_code == 204
    changes = world.changes()
    assert any(c.startswith("API custom_traits") for c in changes), changes
    assert any(c.startswith("API resource_providers") for c in changes), changes
    assert any(c.startswith(f"API allocations/{C2}") for c in changes), changes
    assert any(c.startswith("table traits") for c in changes), changes
    assert any(c.startswith("table consumers") for c in changes), changes
    assert not world.clean
    world.ensure_seeded()
    assert world.changes(full=True) == []
