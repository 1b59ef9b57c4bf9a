"""``allotment allocation show|set|delete``: what a consumer holds."""

from __future__ import annotations

from typing import Any

import click

from allotment.cli.output import Output, output_options
from allotment.cli.session import PlacementGroup, Session, pass_session

__all__ = ["ALLOCATION_FIELDS", "allocation", "parse_allocations"]

ALLOCATION_FIELDS = ("resource_provider", "generation", "resources", "project_id", "user_id", "consumer_type")


def parse_allocations(values: tuple[str, ...]) -> dict[str, dict[str, int]]:
    """``rp=UUID,VCPU=1,MEMORY_MB=512`` strings as provider uuid -> {class: amount}; one provider may repeat."""
    merged: dict[str, dict[str, int]] = {}
    for value in values:
        pairs: dict[str, str] = {}
        for part in value.split(","):
            key, sep, amount = part.partition("=")
            if not sep or not key.strip() or not amount.strip():
                raise ValueError(f"{value!r} is not rp=UUID,CLASS=AMOUNT[,CLASS=AMOUNT...]")
            pairs[key.strip()] = amount.strip()
        rp = pairs.pop("rp", None)
        if rp is None:
            raise ValueError(f"{value!r} names no provider (rp=UUID)")
        if not pairs:
            raise ValueError(f"{value!r} allocates no resource")
        resources = merged.setdefault(rp, {})
        for rc, amount in pairs.items():
            if not amount.isdigit():
                raise ValueError(f"{value!r}: the amount of {rc} must be a whole number")
            if rc in resources and resources[rc] != int(amount):
                raise ValueError(f"{rc} on provider {rp} is given two different amounts")
            resources[rc] = int(amount)
    return merged


def _parse(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> dict[str, dict[str, int]]:
    try:
        return parse_allocations(values)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc


def _fields(session: Session) -> tuple[str, ...]:
    if session.at_least("1.38"):
        return ALLOCATION_FIELDS
    return ALLOCATION_FIELDS[:5] if session.at_least("1.12") else ALLOCATION_FIELDS[:3]


def _show(session: Session, out: Output, body: dict[str, Any]) -> None:
    fields = _fields(session)
    rows = []
    for rp, held in body["allocations"].items():
        row = {"resource_provider": rp, "generation": held.get("generation"), "resources": dict(held["resources"]),
               "project_id": body.get("project_id"), "user_id": body.get("user_id"),
               "consumer_type": body.get("consumer_type")}
        rows.append([row[f] for f in fields])
    out.listing(fields, rows)


@click.group(cls=PlacementGroup)
def allocation() -> None:
    """Allocations of consumers."""


@allocation.command("show")
@click.argument("consumer")
@output_options(*ALLOCATION_FIELDS)
@pass_session
def show_allocations(session: Session, out: Output, consumer: str) -> None:
    """Show a consumer's allocations, one row per provider."""
    _show(session, out, session.client.request("GET", f"/allocations/{consumer}"))


@allocation.command("set")
@click.argument("consumer")
@click.option("--allocation", "allocations", multiple=True, callback=_parse, metavar="rp=UUID,CLASS=AMOUNT,...",
              help="Resources to hold on one provider (repeatable).")
@click.option("--project-id", help="Project of the consumer (required from 1.8).")
@click.option("--user-id", help="User of the consumer (required from 1.8).")
@click.option("--consumer-type", help="Type of the consumer, e.g. INSTANCE or MIGRATION "
                                      "(1.38; default: the consumer's current type).")
@output_options(*ALLOCATION_FIELDS)
@pass_session
def set_allocations(session: Session, out: Output, consumer: str, allocations: dict[str, dict[str, int]],
                    project_id: str | None, user_id: str | None, consumer_type: str | None) -> None:
    """Replace all of a consumer's allocations with the ones given."""
    if not allocations:
        raise click.UsageError("give at least one --allocation rp=UUID,CLASS=AMOUNT")
    if session.at_least("1.8") and not (project_id and user_id):
        raise click.UsageError("--project-id and --user-id are required from microversion 1.8")
    client = session.client
    path = f"/allocations/{consumer}"
    payload: dict[str, Any]
    if session.at_least("1.12"):
        payload = {"allocations": {rp: {"resources": res} for rp, res in allocations.items()}}
    else:  # before 1.12 the body's allocations are a list
        payload = {"allocations": [{"resource_provider": {"uuid": rp}, "resources": res}
                                   for rp, res in allocations.items()]}
    if session.at_least("1.8"):
        payload.update(project_id=project_id, user_id=user_id)
    if session.at_least("1.28"):
        current = client.request("GET", path)
        payload["consumer_generation"] = current.get("consumer_generation")
        if session.at_least("1.38"):
            consumer_type = consumer_type or current.get("consumer_type")
            if not consumer_type:
                raise click.UsageError("--consumer-type is required for a new consumer from microversion 1.38")
            payload["consumer_type"] = consumer_type
    client.request("PUT", path, json=payload)
    _show(session, out, client.request("GET", path))


@allocation.command("delete")
@click.argument("consumer")
@pass_session
def delete_allocations(session: Session, consumer: str) -> None:
    """Delete all of a consumer's allocations."""
    session.client.request("DELETE", f"/allocations/{consumer}")
