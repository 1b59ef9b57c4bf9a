"""``allotment trait list|create|delete|set``: the trait catalogue and the traits of a provider."""

from __future__ import annotations

import click

from allotment.cli.output import Output, output_options
from allotment.cli.session import PlacementGroup, Session, pass_session

__all__ = ["trait"]


@click.group(cls=PlacementGroup)
def trait() -> None:
    """Traits, and the traits of a provider."""


@trait.command("list")
@click.option("--name", metavar="FILTER", help="startswith:PREFIX or in:A,B,C.")
@click.option("--associated", is_flag=True, help="Only traits that some provider has.")
@click.option("--provider", metavar="UUID", help="The traits of this provider instead of the catalogue.")
@output_options("name")
@pass_session
def list_traits(session: Session, out: Output, name: str | None, associated: bool, provider: str | None) -> None:
    """List traits (1.6)."""
    if provider:
        if name or associated:
            raise click.UsageError("--name and --associated filter the catalogue; they do not apply with --provider")
        traits = session.client.request("GET", f"/resource_providers/{provider}/traits")["traits"]
    else:
        params = {}
        if name:
            params["name"] = name
        if associated:
            params["associated"] = "true"
        traits = session.client.request("GET", "/traits", params=params)["traits"]
    out.listing(("name",), [[t] for t in sorted(traits)])


@trait.command("create")
@click.argument("name")
@pass_session
def create_trait(session: Session, name: str) -> None:
    """Create a custom trait (CUSTOM_...); an existing one is left as it is."""
    session.client.request("PUT", f"/traits/{name}")


@trait.command("delete")
@click.argument("name")
@pass_session
def delete_trait(session: Session, name: str) -> None:
    """Delete a custom trait no provider has."""
    session.client.request("DELETE", f"/traits/{name}")


@trait.command("set")
@click.argument("uuid")
@click.option("--trait", "traits", multiple=True, metavar="TRAIT", help="A trait of the provider (repeatable).")
@output_options("name")
@pass_session
def set_traits(session: Session, out: Output, uuid: str, traits: tuple[str, ...]) -> None:
    """Replace all traits of a provider with the ones given (none: remove them all)."""
    generation = session.client.request("GET", f"/resource_providers/{uuid}")["generation"]
    body = session.client.request("PUT", f"/resource_providers/{uuid}/traits",
                                  json={"resource_provider_generation": generation, "traits": sorted(set(traits))})
    out.listing(("name",), [[t] for t in sorted(body["traits"])])
