"""Entry point of the ``allotment`` command."""

from __future__ import annotations

import click

from allotment import __version__
from allotment.cli.session import DEFAULT_URL, Session, version_tuple
from allotment.client import DEFAULT_MICROVERSION


def _check_microversion(ctx: click.Context, param: click.Parameter, value: str) -> str:
    try:
        version_tuple(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    return value


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="allotment")
@click.option("--url", envvar="ALLOTMENT_URL", default=DEFAULT_URL, show_default=True, metavar="URL",
              help="Placement API endpoint (env ALLOTMENT_URL).")
@click.option("--db", "db", envvar="ALLOTMENT_DB", default=None, metavar="URL",
              help="Run placement in-process on this database instead of calling --url (env ALLOTMENT_DB).")
@click.option("--microversion", envvar="OS_PLACEMENT_API_VERSION", default=DEFAULT_MICROVERSION, show_default=True,
              callback=_check_microversion, help="Placement API microversion (env OS_PLACEMENT_API_VERSION).")
@click.option("--token", default="admin", show_default=True, help="Sent as X-Auth-Token (noauth2: user[:project]).")
@click.pass_context
def cli(ctx: click.Context, url: str, db: str | None, microversion: str, token: str) -> None:
    """allotment: placement and scheduling for clouds and clusters."""
    session = Session(url=url, db=db, microversion=microversion, token=token)
    ctx.obj = session
    ctx.call_on_close(session.close)


def _register() -> None:
    from allotment.cli import (
        aggregates,
        allocations,
        candidates,
        classes,
        hosts,
        inventories,
        providers,
        scheduling,
        serve,
        traits,
        usages,
    )

    cli.add_command(serve.serve)
    cli.add_command(serve.db)
    for group in (providers.provider, inventories.inventory, traits.trait, aggregates.aggregate,
                  allocations.allocation, candidates.candidate, usages.usage, classes.resource_class):
        cli.add_command(group)
    for command in (hosts.host, scheduling.schedule, scheduling.scheduler):
        cli.add_command(command)
    try:
        from allotment.bench.cli import bench
    except ImportError:  # the bench tool is optional at import time
        return
    cli.add_command(bench)


_register()


def main() -> None:
    cli()
