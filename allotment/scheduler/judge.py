"""What a provider tree lacks to satisfy a placement query: the refusal's reasons, host by host.

``judge_tree`` checks one host's tree (plus the sharing providers that serve it) against
every request group of the query and the request-level root traits, and returns every
lack it finds: a group's first lack is the one its counts are kept under, the rest say
exactly what else is missing. Kinds, in the order they are checked:

* ``resource_class``: no provider of the tree (or shared with it) has the class;
* ``amount``: providers have the class but none has room for the amount (or its min/max
  unit or step size refuses it);
* ``required_trait`` / ``forbidden_trait``: no provider that could serve the group has
  the trait (or each of them has a forbidden one); for the request level, the root;
* ``aggregate``: none of them is in the requested aggregates (or all are in a forbidden one);
* ``tree``: the tree shape: a suffixed group needs one provider with all its resources,
  ``in_tree`` names another tree.
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Iterable, Sequence
from dataclasses import dataclass

from allotment.scheduler.provider_graph import Provider, ProviderGraph
from allotment.scheduler.query_groups import Group, Query

__all__ = ["KINDS", "Lack", "judge_alike", "judge_all", "judge_tree", "shape_key"]

KINDS = ("resource_class", "amount", "required_trait", "forbidden_trait", "aggregate", "tree")

REQUEST_LEVEL = "root"  # the ``group`` of request-level lacks (root_required, root_forbidden)


@dataclass(frozen=True)
class Lack:
    kind: str  # one of KINDS, or "filter" / "taken" / "unregistered" from the scheduler's own phases
    group: str  # request group suffix ("" unsuffixed), "root" for the request level
    item: str  # the class, trait, aggregate or filter concerned
    detail: str  # in words, with the figures
    shortfall: float = 1.0  # how far from fitting, 0..1 (for ranking near misses)

    def to_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "group": self.group, "item": self.item, "detail": self.detail}


def shape_key(graph: ProviderGraph, root: str, classes: frozenset[str]) -> Hashable | None:
    """What a one-provider tree's verdict depends on, for ``classes``; None for any other tree.

    Thousands of hosts look alike: judging one of each shape is enough.
    """
    members = graph.trees.get(root)
    if members is None or len(members) != 1 or graph.shared_with(root):
        return None
    p = members[0]
    inv = p.inventories
    return (tuple((rc, i.total, i.reserved, i.min_unit, i.max_unit, i.step_size, i.allocation_ratio,
                   p.usages.get(rc, 0)) for rc in classes if (i := inv.get(rc)) is not None),
            p.traits, p.aggregates)


def judge_all(graph: ProviderGraph, roots: Iterable[str], query: Query) -> dict[str, list[Lack]]:
    """``judge_tree`` of every root, once per shape of one-provider tree (the lacks name no provider)."""
    classes = frozenset(rc for g in query.groups for rc in g.resources)
    memo: dict[Hashable, list[Lack]] = {}
    out: dict[str, list[Lack]] = {}
    for root in roots:
        key = shape_key(graph, root, classes)
        if key is None:
            out[root] = judge_tree(graph, root, query)
            continue
        found = memo.get(key)
        if found is None:
            found = memo[key] = judge_tree(graph, root, query)
        out[root] = list(found)
    return out


def judge_alike(graph: ProviderGraph, query: Query) -> list[tuple[list[Lack], Collection[str]]]:
    """``judge_tree`` of every host root, as (lacks, the roots that have exactly these lacks).

    Hosts alike (``ProviderGraph.alike``) are judged once per shape as far as the query's
    classes go; the lists are shared between the roots of one entry: read them, do not change them.
    """
    classes = frozenset(rc for g in query.groups for rc in g.resources)
    alike, apart = graph.alike()
    memo: dict[Hashable, list[Lack]] = {}
    out: list[tuple[list[Lack], Collection[str]]] = []
    for roots in alike.values():
        root = next(iter(roots))
        key = shape_key(graph, root, classes)
        found = memo.get(key)
        if found is None:
            found = memo[key] = judge_tree(graph, root, query)
        out.append((found, roots))
    out += [(judge_tree(graph, root, query), (root,)) for root in apart]
    return out


def judge_tree(graph: ProviderGraph, root: str, query: Query) -> list[Lack]:
    members = graph.trees.get(root, [])
    if not members:
        return [Lack("tree", "", root, "no such provider tree")]
    top = members[0]
    pool = [*members, *graph.shared_with(root)]
    lacks: list[Lack] = []
    for t in sorted(query.root_required - top.traits):
        lacks.append(Lack("required_trait", REQUEST_LEVEL, t, f"the root provider lacks trait {t}"))
    for t in sorted(query.root_forbidden & top.traits):
        what = "the host is disabled" if t == "COMPUTE_STATUS_DISABLED" else "the root provider has"
        lacks.append(Lack("forbidden_trait", REQUEST_LEVEL, t, f"{what} (forbidden trait {t})"))
    for g in query.groups:
        if not g.resources:
            continue  # a group only named in same_subtree: judged through the groups it joins
        lacks += _judge_group(graph, top, pool, g) if g.suffix else _judge_unsuffixed(graph, top, pool, g)
    return lacks


def _free_text(providers: Sequence[Provider], rc: str, amount: int) -> tuple[str, float]:
    best = max((p.free(rc) for p in providers), default=0.0)
    refused = [p for p in providers if not p.inventories[rc].accepts(amount)]
    if refused and len(refused) == len(providers):
        inv = refused[0].inventories[rc]
        return (f"{rc}: {amount} is refused by the unit rules (min_unit {inv.min_unit}, max_unit {inv.max_unit}, "
                f"step_size {inv.step_size})"), 1.0
    shown = int(best) if best == int(best) else round(best, 2)
    return f"{rc}: needs {amount}, {shown} free", min(1.0, max(0.0, (amount - best) / amount))


def _aggs(p: Provider, top: Provider) -> frozenset[str]:
    return p.aggregates | top.aggregates


def _aggregate_lacks(g: Group, candidates: Sequence[Provider], top: Provider) -> list[Lack]:
    out = []
    for wanted in g.member_of:
        if not any(wanted & _aggs(p, top) for p in candidates):
            out.append(Lack("aggregate", g.suffix, ",".join(sorted(wanted)), "not in aggregate "
                            + (" or ".join(sorted(wanted)))))
    if g.not_member_of and all(_aggs(p, top) & g.not_member_of for p in candidates):
        bad = sorted(set().union(*(_aggs(p, top) & g.not_member_of for p in candidates)))
        out.append(Lack("aggregate", g.suffix, ",".join(bad), "in forbidden aggregate " + ", ".join(bad)))
    return out


def _in_tree_lack(graph: ProviderGraph, g: Group, top: Provider) -> list[Lack]:
    if g.in_tree is None:
        return []
    target = graph.providers.get(g.in_tree)
    if target is not None and target.root == top.uuid:
        return []
    return [Lack("tree", g.suffix, g.in_tree, f"in_tree asks for the tree of {g.in_tree}")]


def _judge_group(graph: ProviderGraph, top: Provider, pool: list[Provider], g: Group) -> list[Lack]:
    """A suffixed group: one provider must have every class, the room, the traits and the aggregates."""
    lacks: list[Lack] = []
    rcs = list(g.resources)
    having = [p for p in pool if all(rc in p.inventories for rc in rcs)]
    if not having:
        missing = [rc for rc in rcs if not any(rc in p.inventories for p in pool)]
        lacks += [Lack("resource_class", g.suffix, rc, f"no provider has {rc}") for rc in missing]
        if not missing:
            lacks.append(Lack("tree", g.suffix, ",".join(rcs), f"no one provider has all of {', '.join(rcs)}"))
        having = [p for p in pool if any(rc in p.inventories for rc in rcs)]
    roomy = [p for p in having if all(p.fits(rc, n) for rc, n in g.resources.items() if rc in p.inventories)]
    if not roomy:
        for rc, n in g.resources.items():
            offering = [p for p in having if rc in p.inventories]
            if offering and not any(p.fits(rc, n) for p in offering):
                text, short = _free_text(offering, rc, n)
                lacks.append(Lack("amount", g.suffix, rc, text, short))
        if not lacks or lacks[-1].kind != "amount":
            lacks.append(Lack("amount", g.suffix, ",".join(rcs), "no one provider has room for all of "
                              + ", ".join(f"{rc}:{n}" for rc, n in g.resources.items())))
        roomy = having
    lacks += _trait_and_aggregate_lacks(g, roomy, top)
    return lacks + _in_tree_lack(graph, g, top)


def _trait_and_aggregate_lacks(g: Group, candidates: list[Provider], top: Provider) -> list[Lack]:
    lacks: list[Lack] = []
    traited = [p for p in candidates if all(any_of & p.traits for any_of in g.required)]
    if not traited:
        for any_of in g.required:
            if not any(any_of & p.traits for p in candidates):
                name = " or ".join(sorted(any_of))
                lacks.append(Lack("required_trait", g.suffix, ",".join(sorted(any_of)), f"lacks trait {name}"))
        traited = candidates
    allowed = [p for p in traited if not g.forbidden & p.traits]
    if not allowed and traited:
        bad = sorted(set().union(*(g.forbidden & p.traits for p in traited)))
        lacks.append(Lack("forbidden_trait", g.suffix, ",".join(bad), "has forbidden trait " + ", ".join(bad)))
        allowed = traited
    return lacks + _aggregate_lacks(g, allowed, top)


def _judge_unsuffixed(graph: ProviderGraph, top: Provider, pool: list[Provider], g: Group) -> list[Lack]:
    """The unsuffixed group: each class from any one provider of the tree (or shared with it)."""
    lacks: list[Lack] = []
    serving: list[Provider] = []
    for rc, n in g.resources.items():
        offering = [p for p in pool if rc in p.inventories]
        if not offering:
            lacks.append(Lack("resource_class", "", rc, f"no provider has {rc}"))
            continue
        fitting = [p for p in offering if p.fits(rc, n)]
        if not fitting:
            text, short = _free_text(offering, rc, n)
            lacks.append(Lack("amount", "", rc, text, short))
            fitting = offering
        serving += [p for p in fitting if p not in serving]
    # The required traits must be on the providers the allocation uses: those that could serve.
    candidates = serving or pool
    for any_of in g.required:
        if not any(any_of & p.traits for p in candidates):
            name = " or ".join(sorted(any_of))
            lacks.append(Lack("required_trait", "", ",".join(sorted(any_of)), f"lacks trait {name}"))
    bad = sorted(set().union(*(g.forbidden & p.traits for p in serving))) if serving and g.forbidden else []
    if bad and all(g.forbidden & p.traits for p in serving):
        lacks.append(Lack("forbidden_trait", "", ",".join(bad), "has forbidden trait " + ", ".join(bad)))
    return lacks + _aggregate_lacks(g, candidates, top) + _in_tree_lack(graph, g, top)
