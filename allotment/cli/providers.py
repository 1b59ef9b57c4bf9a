"""``allotment provider list|show|create|set|delete`` (and ``tree`` and ``load``, from their own modules)."""

from __future__ import annotations

import uuid as uuidlib
from typing import Any

import click

from allotment.cli.output import Output, output_options
from allotment.cli.query import member_of_params, required_params, resources_param
from allotment.cli.session import PlacementGroup, Session, pass_session

__all__ = ["PROVIDER_FIELDS", "provider", "provider_fields", "provider_row"]

PROVIDER_FIELDS = ("uuid", "name", "generation", "root_provider_uuid", "parent_provider_uuid")


def provider_fields(session: Session) -> tuple[str, ...]:
    """Tree fields exist from microversion 1.14."""
    return PROVIDER_FIELDS if session.at_least("1.14") else PROVIDER_FIELDS[:3]


def provider_row(body: dict[str, Any], fields: tuple[str, ...]) -> list[Any]:
    return [body.get(f) for f in fields]


@click.group(cls=PlacementGroup, lazy={
    "tree": ("allotment.cli.provider_tree_view:tree",
             "Show provider trees with usage/capacity per class, inventory, traits and aggregates."),
    "load": ("allotment.cli.provider_load:load",
             "Create or update the providers described in FILE (YAML or JSON; - for stdin)."),
})
def provider() -> None:
    """Resource providers."""


@provider.command("list")
@click.option("--uuid", help="Only the provider with this UUID.")
@click.option("--name", help="Only the provider with this name.")
@click.option("--resource", "resources", multiple=True, metavar="CLASS=AMOUNT",
              help="Only providers with capacity for this amount (repeatable; 1.4).")
@click.option("--in-tree", metavar="UUID", help="Only providers in the tree of this provider (1.14).")
@click.option("--required", multiple=True, metavar="TRAIT[,TRAIT...]",
              help="Only providers with this trait; a comma list means any of them (repeatable; 1.18, any-of 1.39).")
@click.option("--forbidden", multiple=True, metavar="TRAIT",
              help="Only providers without this trait (repeatable; 1.22).")
@click.option("--member-of", multiple=True, metavar="AGG[,AGG...]",
              help="Only providers in one of these aggregates (repeatable: all conditions hold; 1.3).")
@click.option("--aggregate-uuid", multiple=True, hidden=True)
@output_options(*PROVIDER_FIELDS)
@pass_session
def list_providers(session: Session, out: Output, uuid: str | None, name: str | None, resources: tuple[str, ...],
                   in_tree: str | None, required: tuple[str, ...], forbidden: tuple[str, ...],
                   member_of: tuple[str, ...], aggregate_uuid: tuple[str, ...]) -> None:
    """List resource providers, optionally filtered."""
    params: list[tuple[str, str]] = []
    if uuid:
        params.append(("uuid", uuid))
    if name:
        params.append(("name", name))
    if resources:
        params.append(("resources", resources_param(resources)))
    if in_tree:
        params.append(("in_tree", in_tree))
    params += [("required", v) for v in required_params(required, forbidden)]
    params += [("member_of", v) for v in member_of_params(member_of, aggregate_uuid)]
    body = session.client.request("GET", "/resource_providers", params=params)
    fields = provider_fields(session)
    out.listing(fields, [provider_row(rp, fields) for rp in body["resource_providers"]])


@provider.command("show")
@click.argument("uuid")
@click.option("--allocations", is_flag=True, help="Include the allocations held against the provider.")
@output_options(*PROVIDER_FIELDS, "allocations")
@pass_session
def show_provider(session: Session, out: Output, uuid: str, allocations: bool) -> None:
    """Show one resource provider."""
    body = session.client.request("GET", f"/resource_providers/{uuid}")
    fields = provider_fields(session)
    values = provider_row(body, fields)
    if allocations:
        held = session.client.request("GET", f"/resource_providers/{uuid}/allocations")["allocations"]
        fields += ("allocations",)
        values.append({consumer: dict(a["resources"]) for consumer, a in held.items()})
    out.record(fields, values)


@provider.command("create")
@click.argument("name")
@click.option("--uuid", help="UUID of the new provider (default: a random one).")
@click.option("--parent-provider", metavar="UUID", help="UUID of the parent provider (1.14).")
@output_options(*PROVIDER_FIELDS)
@pass_session
def create_provider(session: Session, out: Output, name: str, uuid: str | None, parent_provider: str | None) -> None:
    """Create a resource provider."""
    data = {"name": name, "uuid": uuid or str(uuidlib.uuid4())}
    if parent_provider:
        data["parent_provider_uuid"] = parent_provider
    body = session.client.request("POST", "/resource_providers", json=data)
    if body is None:  # before 1.20 creation answers 201 with no body
        body = session.client.request("GET", f"/resource_providers/{data['uuid']}")
    fields = provider_fields(session)
    out.record(fields, provider_row(body, fields))


@provider.command("set")
@click.argument("uuid")
@click.option("--name", required=True, help="The provider's new name.")
@click.option("--parent-provider", metavar="UUID",
              help="UUID of the new parent (1.14; changing an existing parent needs 1.37).")
@output_options(*PROVIDER_FIELDS)
@pass_session
def set_provider(session: Session, out: Output, uuid: str, name: str, parent_provider: str | None) -> None:
    """Rename a resource provider or give it a parent."""
    data = {"name": name}
    if parent_provider:
        data["parent_provider_uuid"] = parent_provider
    body = session.client.request("PUT", f"/resource_providers/{uuid}", json=data)
    fields = provider_fields(session)
    out.record(fields, provider_row(body, fields))


@provider.command("delete")
@click.argument("uuid")
@pass_session
def delete_provider(session: Session, uuid: str) -> None:
    """Delete a resource provider (it must have no children and no allocations)."""
    session.client.request("DELETE", f"/resource_providers/{uuid}")

