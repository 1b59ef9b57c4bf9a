"""The seeded generator of requests: every route and method, valid and deliberately bad.

Each request is built from the current ``Model`` (learned from upstream), so most are
plausible (current generations, existing providers and consumers, amounts that fit)
and a chosen share is wrong on purpose: stale generations, over capacity, unit and step
violations, unknown classes and traits, bad uuids and query parameters, unknown fields,
wrong types, missing content type, refused roles, microversions out of range.
"""

from __future__ import annotations

import json
import random
import uuid as uuidlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

from .model import Model

__all__ = ["NOBODY", "Call", "Generator"]

NOBODY = object()
MAX_MINOR = 39

STANDARD_CLASSES = ["VCPU", "MEMORY_MB", "DISK_GB", "SRIOV_NET_VF", "IPV4_ADDRESS"]
CUSTOM_CLASSES = ["CUSTOM_GOLD", "CUSTOM_SILVER", "CUSTOM_FPGA", "CUSTOM_BANDWIDTH"]
STANDARD_TRAITS = ["HW_CPU_X86_AVX", "HW_CPU_X86_SSE", "STORAGE_DISK_SSD", "MISC_SHARES_VIA_AGGREGATE",
                   "COMPUTE_VOLUME_MULTI_ATTACH"]
CUSTOM_TRAITS = ["CUSTOM_RACK_A", "CUSTOM_RACK_B", "CUSTOM_FAST", "CUSTOM_GREEN"]
CONSUMER_TYPES = ["INSTANCE", "MIGRATION", "CUSTOM_TYPE"]
BAD_UUIDS = ["not-a-uuid", "12345", "0000000-0000-0000-0000-000000000000", "%20"]


@dataclass
class Call:
    """One request, as sent to both servers (before uuid translation for allotment)."""

    op: str
    method: str
    path: str
    query: list[tuple[str, str]] = field(default_factory=list)
    version: str | None = "latest"
    body: Any = NOBODY
    content_type: str | None = "application/json"
    token: str | None = "admin"
    roles: str | None = None
    system_scope: str | None = None
    accept: str | None = "application/json"
    providers: set[str] = field(default_factory=set)
    consumers: set[str] = field(default_factory=set)
    registry: bool = False
    everything: bool = False

    def url(self) -> str:
        return self.path + ("?" + urlencode(self.query) if self.query else "")

    def headers(self) -> dict[str, str]:
        h: dict[str, str] = {}
        if self.token is not None:
            h["x-auth-token"] = self.token
        if self.roles is not None:
            h["x-roles"] = self.roles
        if self.system_scope is not None:
            h["openstack-system-scope"] = self.system_scope
        if self.version is not None:
            h["openstack-api-version"] = f"placement {self.version}"
        if self.accept is not None:
            h["accept"] = self.accept
        if self.body is not NOBODY and self.content_type is not None:
            h["content-type"] = self.content_type
        return h

    def content(self) -> bytes | None:
        if self.body is NOBODY:
            return None
        if isinstance(self.body, bytes):
            return self.body
        return json.dumps(self.body).encode()

    def describe(self) -> str:
        body = self.content()
        text = f"{self.method} {self.url()} [{self.version}]"
        if self.token != "admin" or self.roles is not None or self.system_scope is not None:
            text += f" token={self.token} roles={self.roles} system_scope={self.system_scope}"
        if body is not None:
            text += f" ct={self.content_type} body={body.decode(errors='replace')[:600]}"
        return text


def _minor(version: str | None) -> int:
    """The minor version the servers will use (for deciding what is valid)."""
    if version is None:
        return 0
    if version == "latest":
        return MAX_MINOR
    try:
        major, minor = version.split(".")
        return int(minor) if major == "1" else -1
    except ValueError:
        return -1


class Generator:
    """Seeded: the same seed and the same upstream answers give the same requests."""

    def __init__(self, seed: int, model: Model) -> None:
        self.rng = random.Random(seed)
        self.model = model
        self.aggregates = [self.uuid() for _ in range(4)]
        self.projects = [self.uuid() for _ in range(3)]
        self.users = [self.uuid() for _ in range(3)]
        self.spare_consumers = [self.uuid() for _ in range(6)]
        self.ops: list[tuple[Callable[[], Call], int]] = [
            (self.create_provider, 8),
            (self.get_provider, 3),
            (self.list_providers, 5),
            (self.update_provider, 3),
            (self.delete_provider, 3),
            (self.get_inventories, 3),
            (self.post_inventory, 5),
            (self.put_inventories, 6),
            (self.put_inventory, 4),
            (self.delete_inventory, 3),
            (self.list_traits, 2),
            (self.trait_crud, 3),
            (self.provider_traits, 5),
            (self.resource_classes, 4),
            (self.aggregates_op, 5),
            (self.put_allocations, 9),
            (self.post_allocations, 4),
            (self.allocations_read_delete, 4),
            (self.usages, 3),
            (self.reshape, 2),
            (self.candidates, 10),
            (self.misc, 1),
        ]

    # -- small random helpers --------------------------------------------------------------------

    def uuid(self) -> str:
        return str(uuidlib.UUID(int=self.rng.getrandbits(128), version=4))

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def pick(self, seq: Any) -> Any:
        seq = list(seq)
        return self.rng.choice(seq) if seq else None

    def version(self, low: int = 0, high: int = MAX_MINOR) -> str | None:
        """Mostly a version in [low, high]; sometimes any, latest, none or an invalid one."""
        r = self.rng.random()
        if r < 0.70:
            return f"1.{self.rng.randint(low, high)}"
        if r < 0.82:
            return "latest" if high == MAX_MINOR else f"1.{high}"
        if r < 0.95:
            return f"1.{self.rng.randint(0, MAX_MINOR)}"
        if r < 0.97:
            return None
        return self.pick(["1.40", "2.0", "0.9", "1.x", "latest2", "1.05"])

    def provider(self) -> str | None:
        # Insertion order, not sorted: a server-generated uuid would make the pick random.
        return self.pick(list(self.model.providers))

    def provider_or_bogus(self) -> str:
        r = self.rng.random()
        if r < 0.88 and self.model.providers:
            return str(self.provider())
        if r < 0.95:
            return self.uuid()
        return str(self.pick(BAD_UUIDS))

    def resource_class(self, existing_only: bool = False) -> str:
        r = self.rng.random()
        if r < 0.6 or existing_only:
            pool = STANDARD_CLASSES + sorted(self.model.custom_classes)
            return str(self.pick(pool))
        if r < 0.85:
            return str(self.pick(CUSTOM_CLASSES))
        return str(self.pick(["CUSTOM_NOPE", "NOT_A_CLASS", "custom_lower", "VCPU!"]))

    def trait(self) -> str:
        r = self.rng.random()
        if r < 0.55:
            return str(self.pick(STANDARD_TRAITS))
        if r < 0.9:
            return str(self.pick(CUSTOM_TRAITS))
        return str(self.pick(["CUSTOM_UNKNOWN", "NOT_A_TRAIT", "custom_lower"]))

    def generation(self, rp: str) -> Any:
        p = self.model.providers.get(rp)
        real = p.generation if p else 0
        r = self.rng.random()
        if r < 0.88:
            return real
        if r < 0.95:
            return real + self.rng.choice([-1, 1, 5])
        return self.pick(["1", None, 1.5])

    def roles(self, call: Call) -> Call:
        """Sometimes ask as someone the legacy policy refuses, or without a token."""
        r = self.rng.random()
        if r < 0.03:
            call.token, call.roles = f"{self.pick(self.users)}:{self.pick(self.projects)}", self.pick(
                ["reader", "member", "reader,member"])
        elif r < 0.04:
            call.token = None
        elif r < 0.05:
            call.token, call.roles = "admin", "reader"
        elif r < 0.07:
            call.token, call.roles, call.system_scope = "admin", self.pick(["admin", "reader", "member"]), "all"
        elif r < 0.08:
            call.token, call.roles = f"{self.pick(self.users)}:{self.pick(self.projects)}", "admin"
        return call

    def mangle_body(self, call: Call) -> Call:
        """Now and then: unknown field, wrong type, not JSON, no or wrong content type."""
        r = self.rng.random()
        if call.body is NOBODY:
            return call
        if r < 0.025 and isinstance(call.body, dict):
            call.body = {**call.body, "bogus_field": 1}
        elif r < 0.04:
            call.body = b'{"not json'
        elif r < 0.05:
            call.body = self.pick([[], "string", 42, None])
        elif r < 0.06:
            call.content_type = None
        elif r < 0.07:
            call.content_type = "text/plain"
        return call

    def finish(self, call: Call) -> Call:
        return self.roles(self.mangle_body(call))

    # -- the next request -------------------------------------------------------------------------

    def next(self) -> Call:
        ops, weights = zip(*self.ops, strict=True)
        if not self.model.providers:
            return self.create_provider()
        op = self.rng.choices(ops, weights=weights)[0]
        return op()

    # -- providers --------------------------------------------------------------------------------

    def create_provider(self) -> Call:
        version = self.version()
        minor = _minor(version)
        n = len(self.model.providers)
        name = f"rp-{self.rng.randint(0, 60)}" if self.chance(0.9) else self.pick(
            ["∑ unicode ☃", "x" * 201, "", "name with spaces"])
        if self.chance(0.05) and self.model.providers:
            name = self.model.providers[str(self.provider())].name  # duplicate name: 409
        body: dict[str, Any] = {"name": name}
        new = self.uuid()
        if self.chance(0.9):
            body["uuid"] = new if self.chance(0.95) else self.pick([*BAD_UUIDS, self.provider_or_bogus()])
        if minor >= 14 and self.model.providers and self.chance(0.5 if n < 25 else 0.9) or minor < 14 and self.chance(0.03):
            body["parent_provider_uuid"] = self.provider_or_bogus()
        call = Call("create_provider", "POST", "/resource_providers", version=version, body=body)
        if isinstance(body.get("uuid"), str):
            call.providers.add(body["uuid"])
        call.everything = "uuid" not in body
        return self.finish(call)

    def get_provider(self) -> Call:
        rp = self.provider_or_bogus()
        return self.roles(Call("get_provider", "GET", f"/resource_providers/{rp}", version=self.version()))

    def list_providers(self) -> Call:
        version = self.version()
        minor = _minor(version)
        query: list[tuple[str, str]] = []
        p = self.model.providers.get(self.provider() or "")
        for _ in range(self.rng.randint(0, 3)):
            r = self.rng.randint(0, 9)
            if r == 0 and p:
                query.append(("name", p.name if self.chance(0.8) else "nope"))
            elif r == 1:
                query.append(("uuid", self.provider_or_bogus()))
            elif r == 2:
                aggs = self.rng.sample(self.aggregates, self.rng.randint(1, 2))
                value = ("in:" + ",".join(aggs)) if len(aggs) > 1 or self.chance(0.3) else aggs[0]
                if self.chance(0.2):
                    value = "!" + value
                query.append(("member_of", value if self.chance(0.95) else "in:bogus"))
            elif r in (3, 4):
                items = [f"{self.resource_class()}:{self.rng.choice([1, 2, 10, 100, 0])}"
                         for _ in range(self.rng.randint(1, 2))]
                if self.chance(0.05):
                    items = ["VCPU"]
                query.append(("resources", ",".join(items)))
            elif r == 5:
                query.append(("in_tree", self.provider_or_bogus()))
            elif r in (6, 7):
                traits = [("!" if self.chance(0.2) else "") + self.trait() for _ in range(self.rng.randint(1, 2))]
                value = ",".join(traits)
                if self.chance(0.15):
                    value = "in:" + ",".join(t.lstrip("!") for t in traits)
                query.append(("required", value))
            elif r == 8:
                query.append((self.pick(["bogus", "limit", "sort"]), "1"))
            else:
                pass
        del minor
        return self.roles(Call("list_providers", "GET", "/resource_providers", query=query, version=version))

    def update_provider(self) -> Call:
        version = self.version()
        minor = _minor(version)
        rp = self.provider_or_bogus()
        p = self.model.providers.get(rp)
        body: dict[str, Any] = {"name": (p.name if p and self.chance(0.3) else f"rp-{self.rng.randint(0, 60)}")}
        if self.chance(0.03):
            body["name"] = self.pick([None, 5, "y" * 201])
        if minor >= 14 and self.chance(0.6):
            choice = self.rng.random()
            if choice < 0.3 and p:
                body["parent_provider_uuid"] = p.parent
            elif choice < 0.5:
                body["parent_provider_uuid"] = None
            else:
                body["parent_provider_uuid"] = self.provider_or_bogus()
        call = Call("update_provider", "PUT", f"/resource_providers/{rp}", version=version, body=body)
        call.providers.add(rp)
        if p:
            call.providers.update(self.model.subtree(rp))
        return self.finish(call)

    def delete_provider(self) -> Call:
        # Prefer leaves without allocations, so trees shrink as well as grow.
        leaves = [u for u in self.model.providers if not self.model.children(u) and not self.model.usage(u)]
        rp = self.pick(leaves) if leaves and self.chance(0.7) else self.provider_or_bogus()
        call = Call("delete_provider", "DELETE", f"/resource_providers/{rp}", version=self.version())
        call.providers.add(rp)
        return self.roles(call)

    # -- inventories ------------------------------------------------------------------------------

    def inventory_record(self, rp: str | None, rc: str) -> dict[str, Any]:
        used = self.model.usage(rp).get(rc, 0) if rp else 0
        total = self.rng.choice([1, 4, 8, 16, 64, 1024, max(used, 1)])
        rec: dict[str, Any] = {"total": total}
        if self.chance(0.3):
            rec["reserved"] = self.rng.choice([0, 1, total, total + 1])
        if self.chance(0.3):
            rec["min_unit"] = self.rng.choice([1, 2, total + 1])
        if self.chance(0.4):
            rec["max_unit"] = self.rng.choice([1, 2, total, total + 5])
        if self.chance(0.3):
            rec["step_size"] = self.rng.choice([1, 2, 3])
        if self.chance(0.3):
            rec["allocation_ratio"] = self.rng.choice([1.0, 1.5, 16.0, 0.5, 0.01])
        if self.chance(0.04):
            key = self.pick(["total", "reserved", "min_unit", "step_size", "allocation_ratio"])
            rec[key] = self.pick([0, -1, "2", None, 2**31, 1.5])
        return rec

    def get_inventories(self) -> Call:
        rp = self.provider_or_bogus()
        if self.chance(0.5):
            return self.roles(Call("get_inventories", "GET", f"/resource_providers/{rp}/inventories",
                                   version=self.version()))
        p = self.model.providers.get(rp)
        rc = self.pick(sorted(p.inventories)) if p and p.inventories and self.chance(0.8) else self.resource_class()
        return self.roles(Call("get_inventory", "GET", f"/resource_providers/{rp}/inventories/{rc}",
                               version=self.version()))

    def post_inventory(self) -> Call:
        rp = self.provider_or_bogus()
        rc = self.resource_class()
        body = {"resource_class": rc, **self.inventory_record(rp, rc), "resource_provider_generation":
                self.generation(rp)}
        call = Call("post_inventory", "POST", f"/resource_providers/{rp}/inventories", version=self.version(),
                    body=body)
        call.providers.add(rp)
        return self.finish(call)

    def put_inventories(self) -> Call:
        rp = self.provider_or_bogus()
        p = self.model.providers.get(rp)
        invs: dict[str, Any] = {}
        if p and self.chance(0.5):
            for rc, rec in sorted(p.inventories.items()):  # keep most of what is there (no-op writes too)
                if self.chance(0.8):
                    invs[rc] = {k: v for k, v in rec.items()} if self.chance(0.6) else self.inventory_record(rp, rc)
        for _ in range(self.rng.randint(0 if invs else 1, 3)):
            rc = self.resource_class()
            invs[rc] = self.inventory_record(rp, rc)
        body = {"inventories": invs, "resource_provider_generation": self.generation(rp)}
        call = Call("put_inventories", "PUT", f"/resource_providers/{rp}/inventories", version=self.version(),
                    body=body)
        call.providers.add(rp)
        return self.finish(call)

    def put_inventory(self) -> Call:
        rp = self.provider_or_bogus()
        p = self.model.providers.get(rp)
        rc = self.pick(sorted(p.inventories)) if p and p.inventories and self.chance(0.8) else self.resource_class()
        rec = dict(p.inventories[rc]) if p and rc in p.inventories and self.chance(0.3) else \
            self.inventory_record(rp, rc)
        body = {**rec, "resource_provider_generation": self.generation(rp)}
        if self.chance(0.03):
            body["resource_class"] = rc
        call = Call("put_inventory", "PUT", f"/resource_providers/{rp}/inventories/{rc}", version=self.version(),
                    body=body)
        call.providers.add(rp)
        return self.finish(call)

    def delete_inventory(self) -> Call:
        rp = self.provider_or_bogus()
        p = self.model.providers.get(rp)
        if self.chance(0.35):
            call = Call("delete_inventories", "DELETE", f"/resource_providers/{rp}/inventories",
                        version=self.version(5) if self.chance(0.9) else "1.4")
        else:
            rc = self.pick(sorted(p.inventories)) if p and p.inventories and self.chance(0.8) else \
                self.resource_class()
            call = Call("delete_inventory", "DELETE", f"/resource_providers/{rp}/inventories/{rc}",
                        version=self.version())
        call.providers.add(rp)
        return self.roles(call)

    # -- traits -----------------------------------------------------------------------------------

    def list_traits(self) -> Call:
        query: list[tuple[str, str]] = []
        r = self.rng.random()
        if r < 0.3:
            query.append(("name", "startswith:" + self.pick(["CUSTOM_", "HW_", "STORAGE_DISK", "X"])))
        elif r < 0.6:
            names = dict.fromkeys(self.trait() for _ in range(self.rng.randint(1, 3)))
            query.append(("name", "in:" + ",".join(names)))
        elif r < 0.65:
            query.append(("name", self.pick(["bogus", "in:", "startswith:"])))
        if self.chance(0.4):
            query.append(("associated", self.pick(["true", "false", "TRUE", "maybe"])))
        if self.chance(0.03):
            query.append(("bogus", "1"))
        return self.roles(Call("list_traits", "GET", "/traits", query=query, version=self.version(6)))

    def trait_crud(self) -> Call:
        method = self.rng.choice(["PUT", "PUT", "GET", "DELETE"])
        name = self.trait()
        if method == "PUT" and self.chance(0.03):
            name = "CUSTOM_" + "X" * 260
        call = Call(f"trait_{method.lower()}", method, f"/traits/{quote(name)}", version=self.version(6))
        call.registry = method != "GET"
        return self.roles(call)

    def provider_traits(self) -> Call:
        rp = self.provider_or_bogus()
        method = self.rng.choice(["GET", "PUT", "PUT", "PUT", "DELETE"])
        version = self.version(6)
        if method == "PUT":
            p = self.model.providers.get(rp)
            traits = sorted({self.trait() for _ in range(self.rng.randint(0, 3))})
            if p and self.chance(0.25):
                traits = sorted(p.traits)  # a no-op write
            body: Any = {"traits": traits, "resource_provider_generation": self.generation(rp)}
            if self.chance(0.03):
                body = {"traits": traits}
            call = Call("put_provider_traits", "PUT", f"/resource_providers/{rp}/traits", version=version,
                        body=body)
            call = self.mangle_body(call)
        else:
            call = Call(f"{method.lower()}_provider_traits", method, f"/resource_providers/{rp}/traits",
                        version=version)
        call.providers.add(rp)
        return self.roles(call)

    # -- resource classes -------------------------------------------------------------------------

    def resource_classes(self) -> Call:
        version = self.version(2)
        minor = _minor(version)
        r = self.rng.random()
        name = self.resource_class()
        if r < 0.15:
            call = Call("list_resource_classes", "GET", "/resource_classes", version=version)
        elif r < 0.3:
            call = Call("get_resource_class", "GET", f"/resource_classes/{name}", version=version)
        elif r < 0.5:
            body: Any = {"name": name if self.chance(0.95) else self.pick(["CUSTOM_" + "Y" * 260, 3])}
            call = self.mangle_body(Call("post_resource_class", "POST", "/resource_classes", version=version,
                                         body=body))
        elif r < 0.75:
            call = Call("put_resource_class", "PUT", f"/resource_classes/{name}", version=version)
            if minor < 7 or self.chance(0.05):
                call.body = {"name": self.pick(CUSTOM_CLASSES)}
                call = self.mangle_body(call)
        else:
            call = Call("delete_resource_class", "DELETE", f"/resource_classes/{name}", version=version)
        call.registry = call.method != "GET"
        return self.roles(call)

    # -- aggregates -------------------------------------------------------------------------------

    def aggregates_op(self) -> Call:
        rp = self.provider_or_bogus()
        version = self.version(1)
        minor = _minor(version)
        if self.chance(0.3):
            call = Call("get_aggregates", "GET", f"/resource_providers/{rp}/aggregates", version=version)
            return self.roles(call)
        p = self.model.providers.get(rp)
        aggs = sorted(set(self.rng.sample(self.aggregates, self.rng.randint(0, 3))))
        if p and self.chance(0.25):
            aggs = sorted(p.aggregates)
        if self.chance(0.03):
            aggs = aggs + ["not-a-uuid"]
        body: Any = aggs
        if minor >= 19 and self.chance(0.95) or minor < 19 and self.chance(0.03):
            body = {"aggregates": aggs, "resource_provider_generation": self.generation(rp)}
        call = Call("put_aggregates", "PUT", f"/resource_providers/{rp}/aggregates", version=version, body=body)
        call.providers.add(rp)
        return self.finish(call)

    # -- allocations ------------------------------------------------------------------------------

    def amounts(self, rp: str) -> dict[str, Any]:
        p = self.model.providers.get(rp)
        out: dict[str, Any] = {}
        if p and p.inventories and self.chance(0.92):
            for rc in self.rng.sample(sorted(p.inventories), self.rng.randint(1, len(p.inventories))):
                inv = p.inventories[rc]
                free = self.model.free(rp, rc)
                r = self.rng.random()
                if r < 0.75:
                    n = inv["min_unit"] + inv["step_size"] * self.rng.randint(0, 2)
                    n = min(n, inv["max_unit"])
                    n = max(inv["min_unit"], n - n % inv["step_size"])
                elif r < 0.85:
                    n = free + 1
                elif r < 0.9:
                    n = inv["max_unit"] + 1
                elif r < 0.95:
                    n = inv["min_unit"] + 1 if inv["step_size"] > 1 else max(inv["min_unit"] - 1, 1)
                else:
                    n = self.pick([0, -1, "1"])
                out[rc] = n
        else:
            out[self.resource_class()] = self.rng.randint(1, 4)
        return out

    def allocation_target(self) -> dict[str, dict[str, Any]]:
        with_inv = [u for u, p in self.model.providers.items() if p.inventories]
        rps = self.rng.sample(with_inv, min(len(with_inv), self.rng.randint(1, 2))) if with_inv else []
        if not rps or self.chance(0.05):
            rps = [self.provider_or_bogus()]
        return {rp: self.amounts(rp) for rp in rps}

    def consumer(self) -> str:
        if self.model.consumers and self.chance(0.6):
            return str(self.pick(sorted(self.model.consumers)))
        return str(self.pick(self.spare_consumers))

    def consumer_body(self, consumer: str, minor: int, allocs: dict[str, dict[str, Any]]) -> dict[str, Any]:
        """The body of PUT /allocations/{consumer} (or one entry of POST /allocations) at ``minor``."""
        c = self.model.consumers.get(consumer)
        body: dict[str, Any]
        if minor < 12 and self.chance(0.97):
            body = {"allocations": [{"resource_provider": {"uuid": rp}, "resources": res}
                                    for rp, res in allocs.items()]}
        else:
            body = {"allocations": {rp: {"resources": res} for rp, res in allocs.items()}}
        if minor >= 8 or self.chance(0.3):
            body["project_id"] = c.project if c and c.project and self.chance(0.8) else self.pick(self.projects)
            body["user_id"] = c.user if c and c.user and self.chance(0.8) else self.pick(self.users)
            if self.chance(0.02):
                del body[self.pick(["project_id", "user_id"])]
        if minor >= 28 or self.chance(0.02):
            gen = c.generation if c else None
            r = self.rng.random()
            if r < 0.07:
                gen = (gen or 0) + 1
            elif r < 0.1:
                gen = 0 if gen is None else None
            body["consumer_generation"] = gen
            if self.chance(0.02):
                del body["consumer_generation"]
        if minor >= 38 or self.chance(0.02):
            body["consumer_type"] = (c.consumer_type if c and c.consumer_type and self.chance(0.7)
                                     else self.pick(CONSUMER_TYPES))
            if self.chance(0.03):
                body["consumer_type"] = self.pick(["lower", 5, ""])
            if self.chance(0.05):
                del body["consumer_type"]
        return body

    def put_allocations(self) -> Call:
        version = self.version()
        minor = _minor(version)
        consumer = self.consumer() if self.chance(0.97) else self.pick(BAD_UUIDS)
        allocs = self.allocation_target()
        if minor >= 28 and self.chance(0.08):
            allocs = {}  # empty: deletes the consumer's allocations from 1.28
        body = self.consumer_body(consumer, minor, allocs)
        call = Call("put_allocations", "PUT", f"/allocations/{consumer}", version=version, body=body)
        call.consumers.add(consumer)
        call.providers.update(allocs)
        return self.finish(call)

    def post_allocations(self) -> Call:
        version = self.version(13)
        minor = _minor(version)
        body: dict[str, Any] = {}
        involved: set[str] = set()
        for _ in range(self.rng.randint(1, 3)):
            consumer = self.consumer()
            allocs = self.allocation_target() if self.chance(0.8) else {}
            c = self.model.consumers.get(consumer)
            if c and self.chance(0.3):
                allocs = {}  # move off / delete
            entry = self.consumer_body(consumer, max(minor, 12), allocs)
            if isinstance(entry["allocations"], list):
                entry["allocations"] = {a["resource_provider"]["uuid"]: {"resources": a["resources"]}
                                        for a in entry["allocations"]}
            body[consumer] = entry
            involved.update(allocs)
        call = Call("post_allocations", "POST", "/allocations", version=version, body=body)
        call.consumers.update(body)
        call.providers.update(involved)
        return self.finish(call)

    def allocations_read_delete(self) -> Call:
        r = self.rng.random()
        if r < 0.35:
            consumer = self.consumer() if self.chance(0.95) else self.pick(BAD_UUIDS)
            return self.roles(Call("get_allocations", "GET", f"/allocations/{consumer}", version=self.version()))
        if r < 0.65:
            rp = self.provider_or_bogus()
            return self.roles(Call("get_provider_allocations", "GET", f"/resource_providers/{rp}/allocations",
                                   version=self.version()))
        consumer = self.consumer() if self.chance(0.97) else self.pick(BAD_UUIDS)
        call = Call("delete_allocations", "DELETE", f"/allocations/{consumer}", version=self.version())
        call.consumers.add(consumer)
        return self.roles(call)

    def usages(self) -> Call:
        if self.chance(0.5):
            rp = self.provider_or_bogus()
            return self.roles(Call("provider_usages", "GET", f"/resource_providers/{rp}/usages",
                                   version=self.version()))
        version = self.version(9)
        query: list[tuple[str, str]] = []
        if self.chance(0.95):
            query.append(("project_id", self.pick(self.projects)))
        if self.chance(0.4):
            query.append(("user_id", self.pick(self.users)))
        if self.chance(0.3):
            query.append(("consumer_type", self.pick([*CONSUMER_TYPES, "all", "unknown", "ALL"])))
        if self.chance(0.03):
            query.append(("bogus", "x"))
        return self.roles(Call("total_usages", "GET", "/usages", query=query, version=version))

    # -- reshaper ---------------------------------------------------------------------------------

    def reshape(self) -> Call:
        """Move one class's inventory and allocations from a provider to its child (or a no-op)."""
        version = self.version(30)
        parents = [u for u, p in self.model.providers.items() if p.inventories and self.model.children(u)]
        invs: dict[str, Any] = {}
        allocs: dict[str, Any] = {}
        involved: set[str] = set()
        if parents:
            src = str(self.pick(parents))
            dst = str(self.pick(self.model.children(src)))
            rc = str(self.pick(sorted(self.model.providers[src].inventories)))
            s, d = self.model.providers[src], self.model.providers[dst]
            src_inv = {k: dict(v) for k, v in sorted(s.inventories.items()) if k != rc or self.chance(0.1)}
            dst_inv = {k: dict(v) for k, v in sorted(d.inventories.items())}
            dst_inv[rc] = dict(s.inventories[rc])
            invs = {
                src: {"inventories": src_inv, "resource_provider_generation": self.generation(src)},
                dst: {"inventories": dst_inv, "resource_provider_generation": self.generation(dst)},
            }
            involved = {src, dst}
            for c in sorted(self.model.consumers.values(), key=lambda c: c.uuid):
                if not any(rp in (src, dst) for rp in c.allocations):
                    continue
                moved: dict[str, dict[str, int]] = {rp: dict(res) for rp, res in sorted(c.allocations.items())}
                if rc in moved.get(src, {}):
                    moved.setdefault(dst, {})
                    moved[dst][rc] = moved[dst].get(rc, 0) + moved[src].pop(rc)
                    if not moved[src]:
                        del moved[src]
                allocs[c.uuid] = {
                    "allocations": {rp: {"resources": res} for rp, res in moved.items()},
                    "project_id": c.project, "user_id": c.user, "consumer_generation": c.generation,
                }
                if c.consumer_type and _minor(version) >= 38:
                    allocs[c.uuid]["consumer_type"] = c.consumer_type
                involved.update(moved)
        else:
            rp = self.provider_or_bogus()
            invs = {rp: {"inventories": {}, "resource_provider_generation": self.generation(rp)}}
        body: Any = {"inventories": invs, "allocations": allocs}
        if self.chance(0.05):
            body = {"inventories": invs}
        call = Call("reshape", "POST", "/reshaper", version=version, body=body)
        call.everything = True
        return self.finish(call)

    # -- allocation candidates --------------------------------------------------------------------

    def candidate_resources(self) -> str:
        with_inv = [p for p in self.model.providers.values() if p.inventories]
        items: dict[str, int] = {}
        for _ in range(self.rng.randint(1, 3)):
            p = self.pick(with_inv) if with_inv and self.chance(0.9) else None
            if p is not None:
                rc = self.pick(sorted(p.inventories))
                items[rc] = self.rng.choice([1, 1, 2, p.inventories[rc]["step_size"], 5])
            else:
                items[self.resource_class()] = self.rng.randint(1, 3)
        text = ",".join(f"{rc}:{n}" for rc, n in items.items())
        if self.chance(0.03):
            text = self.pick(["VCPU", "VCPU:x", "VCPU:1,", ":1", "VCPU:0"])
        return text

    def candidates(self) -> Call:
        version = self.version(10)
        minor = _minor(version)
        query: list[tuple[str, str]] = []
        granular = minor >= 25 and self.chance(0.5)
        suffixes = [""]
        if granular:
            pool = ["1", "2", "3"] + (["_NET", "_a"] if minor >= 33 else [])
            suffixes += self.rng.sample(pool, self.rng.randint(1, 2))
            if self.chance(0.2):
                suffixes.remove("")
        for suffix in suffixes:
            if minor >= 36 and suffix and self.chance(0.15):
                pass  # resourceless group: only traits / member_of
            else:
                query.append((f"resources{suffix}", self.candidate_resources()))
            if self.chance(0.35):
                traits = [("!" if self.chance(0.25) else "") + self.trait() for _ in range(self.rng.randint(1, 2))]
                value = ",".join(traits)
                if self.chance(0.1):
                    value = "in:" + ",".join(t.lstrip("!") for t in traits)
                query.append((f"required{suffix}", value))
            if self.chance(0.2):
                aggs = self.rng.sample(self.aggregates, self.rng.randint(1, 2))
                value = "in:" + ",".join(aggs) if len(aggs) > 1 else aggs[0]
                query.append((f"member_of{suffix}", ("!" + value) if self.chance(0.15) else value))
            if suffix and self.chance(0.1):
                query.append((f"in_tree{suffix}", self.provider_or_bogus()))
        if len(suffixes) > 1 and self.chance(0.9) or self.chance(0.03):
            query.append(("group_policy", self.pick(["none", "isolate", "isolate", "bogus"])))
        if self.chance(0.15):
            query.append(("in_tree", self.provider_or_bogus()))
        if self.chance(0.2):
            query.append(("limit", self.pick(["1", "2", "5", "0", "-1", "x"])))
        if self.chance(0.1):
            query.append(("root_required", ("!" if self.chance(0.4) else "") + self.trait()))
        if granular and len(suffixes) > 1 and self.chance(0.2):
            named = [s for s in suffixes if s]
            query.append(("same_subtree", ",".join(named if self.chance(0.8) else named + ["_missing"])))
        if self.chance(0.02):
            query.append(("bogus", "1"))
        return self.roles(Call("candidates", "GET", "/allocation_candidates", query=query, version=version))

    # -- the rest ---------------------------------------------------------------------------------

    def misc(self) -> Call:
        r = self.rng.random()
        if r < 0.3:
            return Call("root", "GET", "/", version=self.version(), token=self.pick(["admin", None]))
        if r < 0.5:
            return self.roles(Call("not_found", "GET", self.pick(["/nope", "/resource_providers/x/y/z"]),
                                   version=self.version()))
        if r < 0.8:
            path, method = self.pick([("/resource_providers", "DELETE"), ("/traits", "POST"), ("/usages", "PUT"),
                                      ("/allocations", "GET"), ("/reshaper", "GET"), ("/", "POST")])
            return self.roles(Call("bad_method", method, path, version=self.version()))
        return Call("accept_html", "GET", "/resource_providers/" + self.uuid(), version=self.version(),
                    accept=self.pick(["text/html", "text/plain", "application/xml"]))
