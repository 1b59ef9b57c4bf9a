"""Differences that are explained: deliberate ones (each naming its README reason) and
ones another branch is fixing (to be deleted once it is merged)."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from .normaliser import UUID_RE
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


def _group_amounts_added(d: Difference) -> bool:
    """Two groups ask for one class and group_policy is not none: upstream adds their amounts
    into objects its candidates share (inflated amounts, candidates dropped)."""
    if not d.kind.startswith("candidates 200"):
        return False
    policy = [v for k, v in d.query if k == "group_policy"]
    if policy and policy[-1] == "none":
        return False
    classes = Counter(item.split(":")[0] for k, v in d.query if k.startswith("resources") for item in v.split(","))
    return any(n > 1 for n in classes.values())


def _sharing_kept_for_one_tree(d: Difference) -> bool:
    """Upstream's candidates are a strict subset of ours, each extra one using a sharing provider."""
    if not d.kind.startswith("candidates 200"):
        return False
    up, al = d.bodies
    if not (isinstance(up, dict) and isinstance(al, dict)):
        return False
    key = "allocation_requests (count under limit)"
    if key in up:
        return isinstance(up[key], int) and isinstance(al.get(key), int) and up[key] < al[key]
    ours, theirs = al.get("allocation_requests", []), up.get("allocation_requests", [])
    extra = [r for r in ours if r not in theirs]
    if not extra or any(r not in ours for r in theirs):
        return False
    summaries = al.get("provider_summaries", {})
    sharing = {u for u, s in summaries.items() if "MISC_SHARES_VIA_AGGREGATE" in s.get("traits", [])}
    if not any("traits" in s for s in summaries.values()):
        return True  # before 1.17 the summaries do not show traits
    return all(any(u in sharing for u in UUID_RE.findall(json.dumps(r))) for r in extra)


# Deliberate: allotment answers differently on purpose. Each reason names the entry of the
# README section "Where we answer differently from upstream, on purpose".
ALLOWED: list[Rule] = [
    Rule("upstream adds group amounts", _group_amounts_added,
         "README: two request groups asking for the same class (upstream inflates amounts)"),
    Rule("upstream keeps sharing for one tree", _sharing_kept_for_one_tree,
         "README: an unsuffixed group satisfied by sharing providers (upstream keeps one tree)"),
]

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
