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
def _unchecked_record(d: Difference) -> bool:
    """PUT inventories with a record under a key that is no class name, which we validate
    (400 naming the schema rule) where upstream skips validation (400 of another kind, or 500)."""
    if not d.kind.startswith("put_inventories 400: body .errors[].detail"):
        return False
    body = d.request.split(" body=", 1)[-1]
    keys = re.findall(r'"([^"]*)": \{"total"', body)
    return "JSON does not validate" in d.allotment and any(not re.fullmatch(r"[A-Z0-9_]+", k) for k in keys)


ALLOWED: list[Rule] = [
    Rule("upstream answers 500", _kind(r": status 500/[1-4]\d\d$"),
         "README: where upstream answers 500 (malformed records under non-class keys; GET /usages "
         "from 1.38 on PostgreSQL)"),
    Rule("we check every inventory record", _unchecked_record,
         "README: inventory records under a key that is no class name"),
    Rule("reshaper checks capacity", lambda d: d.kind.startswith("reshape: status 204/400")
         and "Invalid inventory for" in d.allotment,
         "README: POST /reshaper refuses an inventory whose capacity is below 0"),
    Rule("upstream shows its SQL error",
         lambda d: d.kind.startswith("post_inventory 409") and "[SQL: INSERT INTO inventories" in d.upstream,
         "README: POST of an inventory the provider already has (upstream's detail is its database error)"),
    Rule("upstream adds group amounts", _group_amounts_added,
         "README: two request groups asking for the same class (upstream inflates amounts)"),
    Rule("upstream keeps sharing for one tree", _sharing_kept_for_one_tree,
         "README: an unsuffixed group satisfied by sharing providers (upstream keeps one tree)"),
]

# Known differences being fixed on another branch, not merged yet (none now: branch
# `fixes` is merged). An entry names the branch and the item.
PENDING: list[Rule] = []


def explain(d: Difference) -> str | None:
    """The name of the rule that explains ``d`` (allowed first, then pending), or None."""
    for rule in (*ALLOWED, *PENDING):
        if rule.matches(d):
            return rule.name
    return None
