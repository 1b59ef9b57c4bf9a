"""``allotment candidate list``: allocation candidates, with the flags of ``openstack allocation candidate list``.

As there, ``--group NAME`` starts a granular request group: the ``--resource``,
``--required``, ``--forbidden`` and ``--member-of`` options after it belong to that group
(and those before any ``--group`` to the unnamed one).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import click

from allotment.cli.output import Output, output_options
from allotment.cli.query import member_of_params, required_params, resources_param
from allotment.cli.session import PlacementGroup, Session

__all__ = ["CANDIDATE_FIELDS", "candidate", "candidate_params"]

CANDIDATE_FIELDS = ("#", "allocation", "resource provider", "inventory used/capacity", "traits")
_GROUPED = ("resources", "required", "forbidden", "member_of", "aggregate_uuid")

Groups = dict[str, dict[str, list[str]]]


class _GroupedOptions(click.Command):
    """Records which request group each grouped option occurrence belongs to, in ``ctx.meta["groups"]``."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        # click keeps each option's values in order and the order of every occurrence; together
        # they tell which --group an occurrence follows.
        opts, _, order = self.make_parser(ctx).parse_args(args=list(args))
        seen: dict[str, int] = defaultdict(int)
        groups: Groups = {}
        current = ""
        for param in order:
            name = param.name or ""
            if name not in _GROUPED and name != "group":
                continue
            value = opts[name][seen[name]]
            seen[name] += 1
            if name == "group":
                current = value
                groups.setdefault(current, defaultdict(list))
            else:
                groups.setdefault(current, defaultdict(list))[name].append(value)
        ctx.meta["groups"] = groups
        return super().parse_args(ctx, args)


def candidate_params(groups: Groups, limit: int | None, group_policy: str) -> list[tuple[str, str]]:
    """The query of ``GET /allocation_candidates`` for the parsed groups."""
    if not groups:
        raise click.UsageError("give at least one --resource")
    params: list[tuple[str, str]] = []
    if limit is not None:
        params.append(("limit", str(limit)))
    if any(groups):  # a named group
        params.append(("group_policy", group_policy))
    for suffix, group in groups.items():
        if not group.get("resources"):
            raise click.UsageError(f"request group {suffix or '(unnamed)'!r} needs at least one --resource")
        params.append((f"resources{suffix}", resources_param(group["resources"])))
        params += [(f"required{suffix}", v) for v in required_params(group["required"], group["forbidden"])]
        params += [(f"member_of{suffix}", v) for v in member_of_params(group["member_of"], group["aggregate_uuid"])]
    return params


def _rows(body: dict[str, Any], with_traits: bool) -> list[list[Any]]:
    summaries = {
        rp: (
            ",".join(f"{rc}={v['used']}/{v['capacity']}" for rc, v in summary["resources"].items()),
            ",".join(summary.get("traits", [])),
        )
        for rp, summary in body["provider_summaries"].items()
    }
    rows = []
    for number, request in enumerate(body["allocation_requests"], start=1):
        allocations = request["allocations"]
        if isinstance(allocations, list):  # before 1.12
            allocations = {a["resource_provider"]["uuid"]: a for a in allocations}
        for rp, held in allocations.items():
            amounts = ",".join(f"{rc}={n}" for rc, n in held["resources"].items())
            usage, traits = summaries.get(rp, ("", ""))
            rows.append([number, amounts, rp, usage, traits] if with_traits else [number, amounts, rp, usage])
    return rows


@click.group(cls=PlacementGroup)
def candidate() -> None:
    """Allocation candidates."""


@candidate.command("list", cls=_GroupedOptions)
@click.option("--resource", "resources", multiple=True, metavar="CLASS=AMOUNT",
              help="An amount the providers of a candidate must have room for (repeatable).")
@click.option("--required", multiple=True, metavar="TRAIT[,TRAIT...]",
              help="A trait the candidate must have; a comma list means any of them (repeatable; any-of 1.39).")
@click.option("--forbidden", multiple=True, metavar="TRAIT", help="A trait the candidate must not have (repeatable).")
@click.option("--member-of", multiple=True, metavar="AGG[,AGG...]",
              help="Providers must be in one of these aggregates (repeatable: all conditions hold).")
@click.option("--aggregate-uuid", multiple=True, hidden=True)
@click.option("--group", multiple=True, metavar="NAME",
              help="Start a granular request group: the options after it apply to one provider (1.25).")
@click.option("--group-policy", type=click.Choice(["none", "isolate"]), default="none", show_default=True,
              help="With several groups: isolate puts each named group on a different provider.")
@click.option("--limit", type=click.IntRange(min=1), help="At most this many candidates (1.16).")
@output_options(*CANDIDATE_FIELDS)
@click.pass_context
def list_candidates(ctx: click.Context, out: Output, limit: int | None, group_policy: str, **_: Any) -> None:
    """List allocation candidates (1.10), one row per provider of each candidate.

    --group NAME starts a granular request group: the --resource, --required, --forbidden and
    --member-of options after it belong to that group, those before any --group to the unnamed one.
    """
    session = ctx.ensure_object(Session)
    params = candidate_params(ctx.meta["groups"], limit, group_policy)
    body = session.client.request("GET", "/allocation_candidates", params=params)
    with_traits = session.at_least("1.17")
    fields = CANDIDATE_FIELDS if with_traits else CANDIDATE_FIELDS[:4]
    out.listing(fields, _rows(body, with_traits))

