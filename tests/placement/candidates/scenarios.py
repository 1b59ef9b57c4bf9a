"""Random small provider graphs and allocation-candidates queries, for property and differential tests.

The generators take a ``Draw`` (integers, booleans, choices) so the same code runs
under hypothesis (``HypothesisDraw``, which shrinks) and under a seeded
``random.Random`` (``RandomDraw``, for the script that compares with upstream).
"""

from __future__ import annotations

import random
import uuid as uuidlib
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import httpx

T = TypeVar("T")

CLASSES = ("VCPU", "MEMORY_MB", "DISK_GB", "VGPU")
TRAITS = ("CUSTOM_A", "CUSTOM_B", "HW_CPU_X86_AVX2")
SHARING = "MISC_SHARES_VIA_AGGREGATE"
SUFFIXES = ("_X", "_Y", "_Z")


class Draw(Protocol):
    def int(self, lo: int, hi: int) -> int: ...

    def chance(self, p: float) -> bool: ...

    def choice(self, seq: list[T] | tuple[T, ...]) -> T: ...


class RandomDraw:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def int(self, lo: int, hi: int) -> int:
        return self.rng.randint(lo, hi)

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def choice(self, seq: Any) -> Any:
        return self.rng.choice(list(seq))


class HypothesisDraw:
    """Draws through hypothesis; ``draw`` is the ``draw`` of ``st.composite`` or ``st.data()``."""

    def __init__(self, draw: Any) -> None:
        from hypothesis import strategies as st

        self.draw = draw
        self.st = st

    def int(self, lo: int, hi: int) -> int:
        return int(self.draw(self.st.integers(lo, hi)))

    def chance(self, p: float) -> bool:
        # Shrinks towards False; p only shapes how often it is True.
        return bool(self.draw(self.st.integers(0, 99)) < int(p * 100))

    def choice(self, seq: Any) -> Any:
        seq = list(seq)
        return seq[self.int(0, len(seq) - 1)]


def subset(d: Draw, items: tuple[str, ...] | list[str], p: float) -> list[str]:
    return [x for x in items if d.chance(p)]


@dataclass
class Prov:
    name: str
    uuid: str
    parent: str | None  # parent uuid
    inv: dict[str, dict[str, Any]] = field(default_factory=dict)
    used: dict[str, int] = field(default_factory=dict)
    traits: list[str] = field(default_factory=list)
    aggs: list[str] = field(default_factory=list)


@dataclass
class Scenario:
    providers: list[Prov]  # parents before children
    aggregates: list[str]

    def by_uuid(self) -> dict[str, Prov]:
        return {p.uuid: p for p in self.providers}


def _uuid(d: Draw, tag: str, n: int, salt: str) -> str:
    return str(uuidlib.uuid5(uuidlib.NAMESPACE_URL, f"allotment-test:{salt}:{tag}:{n}"))


def _inventory(d: Draw) -> dict[str, Any]:
    total = d.int(1, 8)
    reserved = d.int(0, 1) if d.chance(0.2) and total > 1 else 0
    min_unit = 2 if d.chance(0.15) else 1
    max_unit = max(min_unit, d.int(1, total)) if d.chance(0.3) else total
    step = 2 if d.chance(0.1) else 1
    ratio = 1.5 if d.chance(0.2) else 1.0
    return {
        "total": total,
        "reserved": reserved,
        "min_unit": min_unit,
        "max_unit": max_unit,
        "step_size": step,
        "allocation_ratio": ratio,
    }


def gen_scenario(d: Draw, salt: str = "") -> Scenario:
    """1-3 compute trees (up to 3 children, some with children) and 0-2 sharing providers."""
    aggs = [_uuid(d, "agg", i, salt) for i in range(3)]
    provs: list[Prov] = []
    counter = [0]

    def new(parent: Prov | None, *, sharing: bool = False) -> Prov:
        counter[0] += 1
        n = counter[0]
        p = Prov(name=f"rp{n}-{salt}", uuid=_uuid(d, "rp", n, salt), parent=parent.uuid if parent else None)
        for rc in CLASSES:
            if d.chance(0.5 if parent is None else 0.45):
                inv = _inventory(d)
                p.inv[rc] = inv
                if d.chance(0.3):
                    cap = int((inv["total"] - inv["reserved"]) * inv["allocation_ratio"])
                    amounts = [
                        a for a in range(inv["min_unit"], min(inv["max_unit"], cap) + 1) if a % inv["step_size"] == 0
                    ]
                    if amounts:
                        p.used[rc] = d.choice(amounts)
        p.traits = subset(d, TRAITS, 0.3)
        if sharing:
            p.traits.append(SHARING)
        p.aggs = subset(d, aggs, 0.35)
        provs.append(p)
        return p

    for _ in range(d.int(1, 3)):
        root = new(None)
        for _ in range(d.int(0, 3)):
            child = new(root)
            if d.chance(0.3):
                for _ in range(d.int(1, 2)):
                    new(child)
    for _ in range(d.int(0, 2)):
        sp = new(None, sharing=True)
        if not sp.aggs:
            sp.aggs = [d.choice(aggs)]
    return Scenario(provs, aggs)


# ---- queries ----------------------------------------------------------------------------------


@dataclass
class QGroup:
    suffix: str
    resources: dict[str, int] = field(default_factory=dict)
    required: list[list[str]] = field(default_factory=list)  # each: any of these
    forbidden: list[str] = field(default_factory=list)
    member_of: list[list[str]] = field(default_factory=list)  # each: any of these
    forbidden_aggs: list[str] = field(default_factory=list)
    in_tree: str | None = None


@dataclass
class Query:
    groups: list[QGroup]
    group_policy: str | None = None
    same_subtrees: list[list[str]] = field(default_factory=list)
    root_required: list[str] = field(default_factory=list)
    root_forbidden: list[str] = field(default_factory=list)
    limit: int | None = None

    def params(self) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        for g in self.groups:
            s = g.suffix
            if g.resources:
                out.append((f"resources{s}", ",".join(f"{rc}:{n}" for rc, n in g.resources.items())))
            plain = [a[0] for a in g.required if len(a) == 1] + [f"!{t}" for t in g.forbidden]
            if plain:
                out.append((f"required{s}", ",".join(plain)))
            for a in g.required:
                if len(a) > 1:
                    out.append((f"required{s}", "in:" + ",".join(a)))
            for a in g.member_of:
                out.append((f"member_of{s}", a[0] if len(a) == 1 else "in:" + ",".join(a)))
            if g.forbidden_aggs:
                out.append((f"member_of{s}", "!in:" + ",".join(g.forbidden_aggs)))
            if g.in_tree:
                out.append((f"in_tree{s}", g.in_tree))
        if self.group_policy:
            out.append(("group_policy", self.group_policy))
        for st in self.same_subtrees:
            out.append(("same_subtree", ",".join(st)))
        root = list(self.root_required) + [f"!{t}" for t in self.root_forbidden]
        if root:
            out.append(("root_required", ",".join(root)))
        if self.limit:
            out.append(("limit", str(self.limit)))
        return out


LATEST_VERSION = (1, 39)


def _traits_filters(d: Draw, g: QGroup, v: tuple[int, int] = LATEST_VERSION) -> None:
    if v < (1, 17):
        return
    allow_any = v >= (1, 39)
    if d.chance(0.3):
        t = d.choice(TRAITS)
        if allow_any and d.chance(0.3):
            other = d.choice([x for x in TRAITS if x != t])
            g.required.append([t, other])
        else:
            g.required.append([t])
    if v >= (1, 22) and d.chance(0.2):
        t = d.choice(TRAITS)
        if not any(a == [t] for a in g.required) and not any(set(a) <= {t} for a in g.required):
            g.forbidden.append(t)


def _agg_filters(d: Draw, g: QGroup, scn: Scenario, v: tuple[int, int] = LATEST_VERSION) -> None:
    if v < (1, 21):
        return
    if d.chance(0.25):
        a = d.choice(scn.aggregates)
        g.member_of.append([a] if d.chance(0.6) else [a, d.choice(scn.aggregates)])
        if len(g.member_of[-1]) == 2 and g.member_of[-1][0] == g.member_of[-1][1]:
            g.member_of[-1] = g.member_of[-1][:1]
        if v >= (1, 24) and d.chance(0.2):
            g.member_of.append([d.choice(scn.aggregates)])
    if v >= (1, 32) and d.chance(0.15):
        g.forbidden_aggs.append(d.choice(scn.aggregates))


def gen_query(d: Draw, scn: Scenario, v: tuple[int, int] = LATEST_VERSION) -> Query:
    """One unsuffixed group and/or up to two suffixed ones, with the filters microversion ``v`` has."""
    groups: list[QGroup] = []
    suffixes = SUFFIXES if v >= (1, 33) else ("1", "2", "3")
    if v < (1, 25) or d.chance(0.75):
        g = QGroup("")
        for rc in CLASSES:
            if d.chance(0.3):
                g.resources[rc] = d.int(1, 2)
        if not g.resources:
            g.resources[d.choice(CLASSES)] = d.int(1, 2)
        _traits_filters(d, g, v)
        _agg_filters(d, g, scn, v)
        if v >= (1, 31) and d.chance(0.1):
            g.in_tree = d.choice(scn.providers).uuid
        groups.append(g)
    n_granular = d.int(0 if groups else 1, 2) if v >= (1, 25) else 0
    for k in range(n_granular):
        g = QGroup(suffixes[k])
        g.resources[d.choice(CLASSES)] = d.int(1, 2)
        _traits_filters(d, g, v)
        _agg_filters(d, g, scn, v)
        if v >= (1, 31) and d.chance(0.1):
            g.in_tree = d.choice(scn.providers).uuid
        groups.append(g)
    q = Query(groups)
    granular = [g for g in groups if g.suffix]
    if len(granular) > 1 or d.chance(0.3):
        q.group_policy = d.choice(["none", "isolate"])
    if v >= (1, 36) and granular and d.chance(0.25):
        # A resourceless group tied by same_subtree, or a same_subtree over the groups there are.
        if d.chance(0.5):
            r = QGroup(suffixes[len(granular)])
            r.required.append([d.choice(TRAITS)])
            groups.append(r)
            q.same_subtrees.append([g.suffix for g in granular] + [r.suffix])
            if q.group_policy is None:
                q.group_policy = d.choice(["none", "isolate"])
        elif len(granular) > 1:
            q.same_subtrees.append([g.suffix for g in granular])
    if v >= (1, 16) and d.chance(0.15):
        q.limit = d.int(1, 3)
    if v >= (1, 35) and d.chance(0.15):
        if d.chance(0.5):
            q.root_required.append(d.choice(TRAITS))
        else:
            q.root_forbidden.append(d.choice(TRAITS))
    return q


# ---- loading a scenario through the API -----------------------------------------------------------

LATEST = {"openstack-api-version": "placement latest"}


def _ok(resp: httpx.Response) -> httpx.Response:
    if resp.status_code >= 400:
        raise AssertionError(f"{resp.request.method} {resp.request.url} -> {resp.status_code}: {resp.text}")
    return resp


def load_scenario(client: httpx.Client, scn: Scenario, *, project: str = "p", user: str = "u") -> list[str]:
    """Create the scenario's providers, inventories, traits, aggregates and usages; return consumer uuids."""
    consumers = []
    for t in TRAITS:
        if t.startswith("CUSTOM_"):
            _ok(client.put(f"/traits/{t}", headers=LATEST))
    for p in scn.providers:
        body: dict[str, Any] = {"name": p.name, "uuid": p.uuid}
        if p.parent:
            body["parent_provider_uuid"] = p.parent
        _ok(client.post("/resource_providers", json=body, headers=LATEST))
        gen = 0
        if p.inv:
            r = _ok(
                client.put(
                    f"/resource_providers/{p.uuid}/inventories",
                    json={"resource_provider_generation": gen, "inventories": p.inv},
                    headers=LATEST,
                )
            )
            gen = r.json()["resource_provider_generation"]
        if p.traits:
            r = _ok(
                client.put(
                    f"/resource_providers/{p.uuid}/traits",
                    json={"resource_provider_generation": gen, "traits": p.traits},
                    headers=LATEST,
                )
            )
            gen = r.json()["resource_provider_generation"]
        if p.aggs:
            _ok(
                client.put(
                    f"/resource_providers/{p.uuid}/aggregates",
                    json={"resource_provider_generation": gen, "aggregates": p.aggs},
                    headers=LATEST,
                )
            )
    for p in scn.providers:
        for rc, amount in p.used.items():
            consumer = str(uuidlib.uuid5(uuidlib.NAMESPACE_URL, f"consumer:{p.uuid}:{rc}"))
            _ok(
                client.put(
                    f"/allocations/{consumer}",
                    json={
                        "allocations": {p.uuid: {"resources": {rc: amount}}},
                        "project_id": project,
                        "user_id": user,
                        "consumer_generation": None,
                        "consumer_type": "INSTANCE",
                    },
                    headers=LATEST,
                )
            )
            consumers.append(consumer)
    return consumers


def unload_scenario(client: httpx.Client, scn: Scenario, consumers: list[str]) -> None:
    for c in consumers:
        client.delete(f"/allocations/{c}", headers=LATEST)
    for p in reversed(scn.providers):
        _ok(client.delete(f"/resource_providers/{p.uuid}", headers=LATEST))


# ---- canonical forms of answers ---------------------------------------------------------------------


def canonical_answer(body: dict[str, Any]) -> tuple[frozenset[Any], frozenset[str]]:
    """(set of allocation requests incl. mappings, set of summarised provider uuids) of a body."""
    if body["allocation_requests"] and isinstance(body["allocation_requests"][0]["allocations"], list):
        reqs = frozenset(
            (
                frozenset(
                    (a["resource_provider"]["uuid"], rc, n)
                    for a in r["allocations"]
                    for rc, n in a["resources"].items()
                ),
                frozenset(),
            )
            for r in body["allocation_requests"]
        )
        return reqs, frozenset(body["provider_summaries"])
    reqs = frozenset(
        (
            frozenset((rp, rc, n) for rp, a in r["allocations"].items() for rc, n in a["resources"].items()),
            frozenset((s, frozenset(v)) for s, v in r.get("mappings", {}).items()),
        )
        for r in body["allocation_requests"]
    )
    return reqs, frozenset(body["provider_summaries"])
