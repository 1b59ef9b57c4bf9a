"""``allotment usage show``: what a project (or user) holds, or what is used of a provider."""

from __future__ import annotations

import click

from allotment.cli.output import Output, output_options
from allotment.cli.session import PlacementGroup, Session, pass_session

__all__ = ["usage"]


@click.group(cls=PlacementGroup)
def usage() -> None:
    """Resource usages."""


@usage.command("show")
@click.option("--project-id", help="Usage of this project (1.9).")
@click.option("--user-id", help="Only this user's usage within the project.")
@click.option("--consumer-type", help="Only consumers of this type (1.38).")
@click.option("--provider", metavar="UUID", help="Usage of this provider instead.")
@output_options("consumer_type", "consumer_count", "resource_class", "usage")
@pass_session
def show_usage(session: Session, out: Output, project_id: str | None, user_id: str | None,
               consumer_type: str | None, provider: str | None) -> None:
    """Show usage per resource class of a project (--project-id) or of a provider (--provider).

    From 1.38 a project's usage is broken down by consumer type, with a count of consumers.
    """
    if bool(project_id) == bool(provider):
        raise click.UsageError("give either --project-id or --provider")
    if provider:
        if user_id or consumer_type:
            raise click.UsageError("--user-id and --consumer-type apply to --project-id only")
        usages = session.client.request("GET", f"/resource_providers/{provider}/usages")["usages"]
        out.listing(("resource_class", "usage"), sorted(usages.items()))
        return
    params = {"project_id": project_id}
    if user_id:
        params["user_id"] = user_id
    if consumer_type:
        params["consumer_type"] = consumer_type
    usages = session.client.request("GET", "/usages", params=params)["usages"]
    if not session.at_least("1.38"):
        out.listing(("resource_class", "usage"), sorted(usages.items()))
        return
    rows = []
    for ctype, per_class in sorted(usages.items()):
        count = per_class.get("consumer_count", 0)
        rows += [[ctype, count, rc, n] for rc, n in sorted(per_class.items()) if rc != "consumer_count"]
    out.listing(("consumer_type", "consumer_count", "resource_class", "usage"), rows)
