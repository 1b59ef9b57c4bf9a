"""``allotment dashboard serve``: the web page over placement and the scheduler."""

from __future__ import annotations

import atexit
import contextlib
from pathlib import Path
from typing import Any

import click

from allotment.cli.scheduling import _placement_options
from allotment.cli.session import DEFAULT_URL
from allotment.infra.launcher import ServeOptions, serve_wsgi
from allotment.infra.logs import configure_logging


def _flavor(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> list[Any]:
    from allotment.dashboard.fleet import FlavorSize

    try:
        return [FlavorSize.parse(v) for v in values]
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@click.group()
def dashboard() -> None:
    """The dashboard: provider trees, usage heatmap, capacity per flavor and zone, decisions, simulations."""


@dashboard.command("serve")
@_placement_options
@click.option("--scheduler-url", envvar="ALLOTMENT_SCHEDULER_URL", default=None, metavar="URL",
              help="The scheduler service, for zones, disabled hosts and recent decisions (env ALLOTMENT_SCHEDULER_URL).")
@click.option("--simulation", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="JSON results file of `allotment simulate`, shown under Simulations (read on every view).")
@click.option("--flavor", "flavors", multiple=True, callback=_flavor, metavar="NAME:VCPUS:MEMORY_MB[:DISK_GB]",
              help="A flavor for the capacity table (repeat; default m1.small, m1.medium, m1.large).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8780, show_default=True, type=click.IntRange(1, 65535), help="Port to listen on.")
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"]), help="Log level.")
def serve(placement_url: str | None, placement_db: str | None, scheduler_url: str | None, simulation: Path | None,
          flavors: list[Any], host: str, port: int, log_level: str) -> None:
    """Serve the dashboard (one process; it reads placement and the scheduler through their APIs)."""
    if placement_url and placement_db:
        raise click.UsageError("give --placement-url or --placement-db, not both")
    configure_logging(log_level, "text")
    from allotment.dashboard.app import DashboardConfig, create_app

    config = DashboardConfig(simulation=simulation)
    if flavors:
        config.flavors = flavors

    def load() -> Any:
        from allotment.client import connect, direct
        from allotment.scheduler.client import connect as connect_scheduler

        stack = contextlib.ExitStack()
        atexit.register(stack.close)
        placement = (stack.enter_context(direct(placement_db)) if placement_db
                     else stack.enter_context(connect(placement_url or DEFAULT_URL)))
        scheduler = stack.enter_context(connect_scheduler(scheduler_url)) if scheduler_url else None
        return create_app(placement, scheduler, config)

    where = placement_db or placement_url or DEFAULT_URL
    click.echo(f"allotment dashboard on http://{host}:{port} (placement {where}"
               f"{', scheduler ' + scheduler_url if scheduler_url else ''})", err=True)
    serve_wsgi(load, ServeOptions(host, port, 1, 4, log_level, "allotment-dashboard"))
