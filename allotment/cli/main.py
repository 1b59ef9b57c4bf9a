"""Entry point of the ``allotment`` command.

The subcommands are imported when they run (``LazyGroup``): the table below names each
with its module and the line ``allotment --help`` shows for it.
"""

from __future__ import annotations

import click

from allotment import __version__
from allotment.cli.lazy import LazyCommand, LazyGroup
from allotment.cli.session import DEFAULT_MICROVERSION, DEFAULT_URL, Session, version_tuple

COMMANDS: dict[str, LazyCommand] = {
    "serve": ("allotment.cli.serve:serve", "Serve the placement API (creates or upgrades the database schema first)."),
    "db": ("allotment.cli.serve:db", "Database schema commands."),
    "provider": ("allotment.cli.providers:provider", "Resource providers."),
    "inventory": ("allotment.cli.inventories:inventory", "Inventories of resource providers."),
    "trait": ("allotment.cli.traits:trait", "Traits, and the traits of a provider."),
    "aggregate": ("allotment.cli.aggregates:aggregate", "Placement aggregates of a provider (not 'host aggregate')."),
    "allocation": ("allotment.cli.allocations:allocation", "Allocations of consumers."),
    "candidate": ("allotment.cli.candidates:candidate", "Allocation candidates."),
    "usage": ("allotment.cli.usages:usage", "Resource usages."),
    "class": ("allotment.cli.classes:resource_class", "Resource classes."),
    "host": ("allotment.cli.hosts:host", "Scheduler registry: hosts, host aggregates, server groups."),
    "schedule": ("allotment.cli.scheduling:schedule",
                 "Place instances: claim a host for each (plus alternates) and show where they went."),
    "scheduler": ("allotment.cli.scheduling:scheduler",
                  "The scheduler service (POST /select_destinations, /migrations, and the host registry API)."),
    "server": ("allotment.cli.servers:server", "Servers through the compute API: create, list, show, delete, moves."),
    "servers": ("allotment.cli.servers:servers", "The compute API with the conductor (and fake computes), one process."),
    "compute": ("allotment.cli.servers:compute", "Compute agents: report a host to placement, take builds."),
    "audit": ("allotment.cli.servers:audit", "Audit placement against the servers' records; --heal repairs."),
    "simulate": ("allotment.cli.simulate:simulate",
                 "Simulate a fleet under a workload and compare scheduler configurations side by side."),
    "dashboard": ("allotment.cli.dashboard:dashboard",
                  "The dashboard: provider trees, usage heatmap, capacity per flavor and zone, decisions, simulations."),
    "capacity": ("allotment.cli.capacity:capacity", "How many instances of a flavor fit right now, and where."),
    "bench": ("allotment.bench.cli:bench",
              "Benchmarks: allotment and upstream OpenStack Placement 16.0.0, side by side."),
}


def _check_microversion(ctx: click.Context, param: click.Parameter, value: str) -> str:
    try:
        version_tuple(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    return value


@click.group(cls=LazyGroup, lazy=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
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


def main() -> None:
    """The console script: every process it starts (servers, workers forked by gunicorn) collects less often."""
    from allotment.infra.gc_tuning import tune_gc

    tune_gc()
    cli()
