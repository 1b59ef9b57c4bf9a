"""A GET /allocation_candidates query (as ``to_placement_query`` writes it) read back into request groups.

The explanation of a refusal and the capacity count judge providers against the same query
placement got, so they read it from the parameters rather than from the spec.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = ["Group", "Query", "parse_query"]

_KEY = re.compile(r"^(resources|required|member_of|in_tree)([a-zA-Z0-9_-]*)$")


@dataclass
class Group:
    suffix: str
    resources: dict[str, int] = field(default_factory=dict)
    required: list[frozenset[str]] = field(default_factory=list)  # each an any-of set (one trait: all of)
    forbidden: set[str] = field(default_factory=set)
    member_of: list[frozenset[str]] = field(default_factory=list)  # each an any-of set of aggregates
    not_member_of: set[str] = field(default_factory=set)
    in_tree: str | None = None

    @property
    def label(self) -> str:
        return f"group {self.suffix}" if self.suffix else "unsuffixed group"

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"suffix": self.suffix, "resources": dict(self.resources)}
        if self.required:
            out["required"] = [_any_of(t) for t in self.required]
        if self.forbidden:
            out["forbidden"] = sorted(self.forbidden)
        if self.member_of:
            out["member_of"] = [_any_of(a) for a in self.member_of]
        if self.not_member_of:
            out["not_member_of"] = sorted(self.not_member_of)
        if self.in_tree:
            out["in_tree"] = self.in_tree
        return out


@dataclass
class Query:
    groups: list[Group] = field(default_factory=list)
    root_required: set[str] = field(default_factory=set)
    root_forbidden: set[str] = field(default_factory=set)
    same_subtree: list[list[str]] = field(default_factory=list)
    group_policy: str | None = None


def _any_of(values: frozenset[str]) -> str:
    return next(iter(values)) if len(values) == 1 else "in:" + ",".join(sorted(values))


def parse_query(params: Iterable[tuple[str, str]]) -> Query:
    query = Query()
    groups: dict[str, Group] = {}
    for key, value in params:
        if key == "root_required":
            for t in value.split(","):
                (query.root_forbidden if t.startswith("!") else query.root_required).add(t.lstrip("!"))
            continue
        if key == "same_subtree":
            query.same_subtree.append(value.split(","))
            continue
        if key == "group_policy":
            query.group_policy = value
            continue
        m = _KEY.match(key)
        if m is None:
            continue  # limit and the like
        kind, suffix = m.groups()
        g = groups.get(suffix)
        if g is None:
            g = groups[suffix] = Group(suffix)
        if kind == "resources":
            for item in value.split(","):
                rc, _, amount = item.partition(":")
                g.resources[rc] = int(amount)
        elif kind == "required":
            if value.startswith("in:"):
                g.required.append(frozenset(value[3:].split(",")))
            else:
                for t in value.split(","):
                    if t.startswith("!"):
                        g.forbidden.add(t[1:])
                    else:
                        g.required.append(frozenset((t,)))
        elif kind == "member_of":
            if value.startswith("!"):
                g.not_member_of |= set(value.removeprefix("!").removeprefix("in:").split(","))
            else:
                g.member_of.append(frozenset(value.removeprefix("in:").split(",")))
        else:
            g.in_tree = value
    query.groups = sorted(groups.values(), key=lambda g: (g.suffix != "", g.suffix))
    return query
