"""``allotment aggregate list|set``: the placement aggregates a provider belongs to (not ``host aggregate``)."""

from __future__ import annotations

from typing import Any

import click

from allotment.cli.output import Output, output_options
from allotment.cli.session import PlacementGroup, Session, pass_session

__all__ = ["aggregate"]


@click.group(cls=PlacementGroup)
def aggregate() -> None:
    """Placement aggregates of a provider (not 'host aggregate').

    In placement an aggregate is only a uuid that providers share (member_of in queries).
    The scheduler's host aggregates, with names and metadata such as availability zones,
    are 'allotment host aggregate'; each of those is also a placement aggregate of the
    same uuid, kept in step by the host commands.
    """


@aggregate.command("list")
@click.argument("uuid")
@output_options("uuid")
@pass_session
def list_aggregates(session: Session, out: Output, uuid: str) -> None:
    """List the aggregates a provider is in (1.1)."""
    aggregates = session.client.request("GET", f"/resource_providers/{uuid}/aggregates")["aggregates"]
    out.listing(("uuid",), [[a] for a in sorted(aggregates)])


@aggregate.command("set")
@click.argument("uuid")
@click.option("--aggregate", "aggregates", multiple=True, metavar="AGGREGATE_UUID",
              help="An aggregate of the provider (repeatable; none: leave every aggregate).")
@output_options("uuid")
@pass_session
def set_aggregates(session: Session, out: Output, uuid: str, aggregates: tuple[str, ...]) -> None:
    """Replace the aggregates a provider is in."""
    wanted = sorted(set(aggregates))
    payload: Any = wanted
    if session.at_least("1.19"):  # from 1.19 the body carries the provider generation
        generation = session.client.request("GET", f"/resource_providers/{uuid}")["generation"]
        payload = {"resource_provider_generation": generation, "aggregates": wanted}
    body = session.client.request("PUT", f"/resource_providers/{uuid}/aggregates", json=payload)
    out.listing(("uuid",), [[a] for a in sorted(body["aggregates"])])
