"""GET /allocation_candidates: the query string parsed into a ``CandidateRequest``.

Request groups come from the keys ``resources``, ``required``, ``member_of`` and
``in_tree``, each optionally suffixed: numeric suffixes from 1.25 (``resources1``),
strings of ``[a-zA-Z0-9_-]{1,64}`` from 1.33 (``resources_COMPUTE``). The
unsuffixed group may be spread over several providers of one tree (plus sharing
providers); a suffixed (granular) group is satisfied by exactly one provider.

Request-wide: ``limit`` (1.16; the first value counts), ``group_policy`` (1.25;
``none`` or ``isolate``; the first value counts; required once more than one
suffixed group is given), ``root_required`` (1.35; traits the root of every
candidate's tree must have or lack; given once), ``same_subtree`` (1.36; sets of
suffixes whose providers must all sit under one of them) and resourceless
suffixed groups (1.36, only when named in ``same_subtree``).

Validation happens in upstream's order, with upstream's status, message and
error code, because clients and the upstream tests read them.
"""

from __future__ import annotations

import re
from typing import Any

from allotment.placement import errors
from allotment.placement.api.http import HTTPError, Request
from allotment.placement.api.query import (
    _parse_required_value,
    parse_in_tree,
    parse_member_of,
    parse_required,
    parse_resources,
)
from allotment.placement.api.schemas.allocation_candidate import (
    GROUP_KEYS,
    NUMERIC_SUFFIX,
    STRING_SUFFIX,
    schema_for,
)
from allotment.placement.api.util import schema_error, validate_query
from allotment.placement.candidates.request import CandidateGroup, CandidateRequest

__all__ = ["parse_request"]

_KEY_NUMERIC = re.compile(rf"^({'|'.join(GROUP_KEYS)})({NUMERIC_SUFFIX})?$")
_KEY_STRING = re.compile(rf"^({'|'.join(GROUP_KEYS)})({STRING_SUFFIX})?$")


def _bad(detail: str, code: str | None = None) -> HTTPError:
    return HTTPError(400, detail, code=code)


def _wide_params(req: Request) -> dict[str, Any]:
    out: dict[str, Any] = {}
    limits = req.getall("limit")
    if limits:
        # The first value counts, but the schema saw the last one.
        message = schema_error(schema_for(req.version)["properties"]["limit"], limits[0])
        if message is not None:
            raise _bad(f"Invalid query string parameters: {message}")
        out["limit"] = int(limits[0])
    policies = req.getall("group_policy")
    if policies:
        out["group_policy"] = policies[0]
    roots = req.getall("root_required")
    if roots:
        if len(roots) > 1:
            raise _bad(
                "Query parameter 'root_required' may be specified only once.", errors.ILLEGAL_DUPLICATE_QUERYPARAM
            )
        # root_required takes neither the 'in:' form nor repeats.
        any_sets, forbidden = _parse_required_value(roots[0], True, False)
        required = {t for s in any_sets for t in s}
        conflicts = forbidden & required
        if conflicts:
            raise _bad(
                "Conflicting required and forbidden traits found in root_required: " + ", ".join(sorted(conflicts)),
                errors.QUERYPARAM_BAD_VALUE,
            )
        out["root_required"] = frozenset(required)
        out["root_forbidden"] = frozenset(forbidden)
    subtrees = []
    for value in req.getall("same_subtree"):
        suffixes = frozenset(s.strip() for s in value.split(","))
        if "" in suffixes:
            raise _bad(
                "Empty string (unsuffixed group) can not be specified in `same_subtree` ",
                errors.QUERYPARAM_BAD_VALUE,
            )
        subtrees.append((value, suffixes))
    out["same_subtrees"] = subtrees
    return out


def _parse_groups(req: Request) -> dict[str, CandidateGroup]:
    pattern = _KEY_STRING if req.version.matches((1, 33)) else _KEY_NUMERIC
    groups: dict[str, CandidateGroup] = {}
    for key, value in req.query:
        match = pattern.match(key)
        if match is None:
            continue
        kind, suffix = match.group(1), match.group(2) or ""
        group = groups.get(suffix)
        if group is None:
            group = groups[suffix] = CandidateGroup(suffix)
        if kind == "resources":
            group.resources = parse_resources(value)
        elif kind == "required":
            required, forbidden = parse_required(req, suffix)
            group.required = [frozenset(s) for s in required]
            group.forbidden = frozenset(forbidden)
        elif kind == "member_of":
            member_of, forbidden_aggs = parse_member_of(req, suffix)
            group.member_of = [frozenset(s) for s in member_of]
            group.forbidden_aggs = frozenset(forbidden_aggs)
        else:
            group.in_tree = parse_in_tree(value)
    return groups


def _subtree_order(subtrees: list[tuple[str, frozenset[str]]]) -> list[str]:
    """Suffixes named in same_subtree, in the order they first appear."""
    seen: dict[str, None] = {}
    for value, _ in subtrees:
        for s in value.split(","):
            seen.setdefault(s.strip(), None)
    return list(seen)


def _check_subtree_groups(groups: dict[str, CandidateGroup], subtrees: list[tuple[str, frozenset[str]]]) -> None:
    """From 1.36: resourceless groups are allowed, but only when named in same_subtree."""
    resourceless = [s for s, g in groups.items() if not g.resources]
    named = _subtree_order(subtrees)
    if len(resourceless) == len(groups):
        raise _bad("There must be at least one resources or resources[$S] parameter.", errors.QUERYPARAM_MISSING_VALUE)
    bad = [s for s in resourceless if s not in named]
    if bad:
        raise _bad(
            "Resourceless suffixed group request should be specified in `same_subtree` query param: "
            f"bad group(s) - {bad}.",
            errors.QUERYPARAM_BAD_VALUE,
        )
    unknown = [s for s in named if s not in groups]
    if unknown:
        raise _bad(
            f"Real suffixes should be specified in `same_subtree`: {unknown} not found in {list(groups)}.",
            errors.QUERYPARAM_BAD_VALUE,
        )


def _check_orphans(groups: dict[str, CandidateGroup]) -> None:
    """Before 1.36 every group needs resources; say which keys lack them."""
    orphans = [f"required{s}" for s, g in groups.items() if g.required and not g.resources]
    if orphans:
        raise _bad(
            "All traits parameters must be associated with resources.  "
            "Found the following orphaned traits keys: " + ", ".join(orphans)
        )
    orphans = [f"member_of{s}" for s, g in groups.items() if not g.resources and (g.member_of or g.forbidden_aggs)]
    if orphans:
        raise _bad(
            "All member_of parameters must be associated with resources. "
            "Found the following orphaned member_of keys: " + ", ".join(orphans)
        )
    if not all(g.resources for g in groups.values()):
        raise _bad("All request groups must specify resources.")
    if not groups:
        raise _bad("At least one request group (`resources` or `resources{$S}`) is required.")


def _check_conflicts(groups: dict[str, CandidateGroup]) -> None:
    conflicts = [
        f"required{s}: ({', '.join(sorted(any_of))})"
        for s, g in groups.items()
        for any_of in g.required
        if all(t in g.forbidden for t in any_of)
    ]
    if conflicts:
        raise _bad(
            "Conflicting required and forbidden traits found in the following traits keys: "
            + ", ".join(sorted(conflicts))
        )


def parse_request(req: Request) -> CandidateRequest:
    """Validate and parse the query of ``req``; an HTTPError 400 names the first problem."""
    version = req.version
    validate_query(req, schema_for(version))
    wide = _wide_params(req)
    groups = _parse_groups(req)
    subtrees = wide.pop("same_subtrees")
    if version.matches((1, 36)):
        _check_subtree_groups(groups, subtrees)
    else:
        _check_orphans(groups)
    if version.matches((1, 22)):
        _check_conflicts(groups)
    if not wide.get("group_policy") and sum(1 for g in groups.values() if g.granular) > 1:
        raise _bad('The "group_policy" parameter is required when specifying more than one "resources{N}" parameter.')
    return CandidateRequest(groups=list(groups.values()), same_subtrees=[s for _, s in subtrees], **wide)
