"""An allocation candidates query, parsed: request groups and request-wide parameters.

Request groups come from the keys ``resources``, ``required``, ``member_of`` and
``in_tree``, each optionally suffixed. The unsuffixed group may be spread over
several providers of one tree (plus sharing providers); a suffixed (granular)
group is satisfied by exactly one provider. ``api.candidates_query`` builds these
from the query string.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["CandidateGroup", "CandidateRequest"]


@dataclass
class CandidateGroup:
    """One request group. ``suffix`` "" is the unsuffixed group."""

    suffix: str
    resources: dict[str, int] = field(default_factory=dict)
    required: list[frozenset[str]] = field(default_factory=list)  # each set: any of these traits
    forbidden: frozenset[str] = frozenset()
    member_of: list[frozenset[str]] = field(default_factory=list)  # each set: any of these aggregates
    forbidden_aggs: frozenset[str] = frozenset()
    in_tree: str | None = None

    @property
    def granular(self) -> bool:
        """Whether one provider must satisfy the whole group (every suffixed group)."""
        return self.suffix != ""


@dataclass
class CandidateRequest:
    groups: list[CandidateGroup]
    limit: int | None = None
    group_policy: str | None = None
    root_required: frozenset[str] = frozenset()
    root_forbidden: frozenset[str] = frozenset()
    same_subtrees: list[frozenset[str]] = field(default_factory=list)

    @property
    def isolate(self) -> bool:
        return self.group_policy == "isolate"

    def requested_classes(self) -> set[str]:
        return {rc for g in self.groups for rc in g.resources}
