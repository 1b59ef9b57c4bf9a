"""``allotment class list|create|delete``: resource classes."""

from __future__ import annotations

import click

from allotment.cli.output import Output, output_options
from allotment.cli.session import PlacementGroup, Session, pass_session

__all__ = ["resource_class"]


@click.group("class", cls=PlacementGroup)
def resource_class() -> None:
    """Resource classes."""


@resource_class.command("list")
@output_options("name")
@pass_session
def list_classes(session: Session, out: Output) -> None:
    """List the standard and custom resource classes."""
    classes = session.client.request("GET", "/resource_classes")["resource_classes"]
    out.listing(("name",), [[rc["name"]] for rc in classes])


@resource_class.command("create")
@click.argument("name")
@output_options("name")
@pass_session
def create_class(session: Session, out: Output, name: str) -> None:
    """Create a custom resource class (CUSTOM_...); an existing one is left as it is (1.7)."""
    session.client.request("PUT", f"/resource_classes/{name}")
    out.record(("name",), [name])


@resource_class.command("delete")
@click.argument("name")
@pass_session
def delete_class(session: Session, name: str) -> None:
    """Delete a custom resource class no inventory uses."""
    session.client.request("DELETE", f"/resource_classes/{name}")
