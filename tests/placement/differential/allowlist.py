"""Differences that are explained: deliberate ones (each naming its README reason) and
ones another branch is fixing (to be deleted once it is merged)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from .runner import Difference

__all__ = ["ALLOWED", "PENDING", "explain"]


@dataclass(frozen=True)
class Rule:
    name: str
    matches: Callable[[Difference], bool]
    reason: str


def _kind(pattern: str) -> Callable[[Difference], bool]:
    rx = re.compile(pattern)
    return lambda d: rx.search(d.kind) is not None


# Deliberate: allotment answers differently on purpose. Each reason names the entry of the
# README section "Where we answer differently from upstream, on purpose".
ALLOWED: list[Rule] = []

# Known differences being fixed on branch `fixes` (brief items 1-6); delete when merged.
PENDING: list[Rule] = [
    Rule("fixes-1 generation bumps",
         lambda d: all(a.startswith("body") and a.rstrip(")").split(" ")[1].endswith("generation")
                       for a in d.aspects),
         "fixes item 1: generation bump rules on writes"),
    Rule("fixes-2 consumer generation 0",
         lambda d: d.kind.endswith("status 204/409") and '"consumer_generation": 0' in d.request,
         "fixes item 2: consumer_generation 0 for lingering consumers"),
    Rule("fixes-3 capacity below 1",
         lambda d: d.upstream.startswith("400 ") and "Invalid inventory for" in d.upstream,
         "fixes item 3: capacity < 1 refused with 400 before the in-use check"),
    Rule("fixes-4 policy before validation", _kind(r": status 403/400$"),
         "fixes item 4: policy checked before body validation"),
    Rule("fixes-5 last-modified on empty", _kind(r"^get_inventories 200: header last-modified$"),
         "fixes item 5: no Last-Modified on empty inventories"),
    Rule("fixes-6 error headers", _kind(r"^\w+ [45]\d\d: header (vary|openstack-api-version)$"),
         "fixes item 6: headers on error responses"),
]


def explain(d: Difference) -> str | None:
    """The name of the rule that explains ``d`` (allowed first, then pending), or None."""
    for rule in (*ALLOWED, *PENDING):
        if rule.matches(d):
            return rule.name
    return None
