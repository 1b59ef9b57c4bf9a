"""``allotment serve`` and ``allotment db upgrade``."""

from __future__ import annotations

import click

from allotment.cli.door import door_options, door_settings
from allotment.infra.launcher import ServeOptions, serve_wsgi
from allotment.infra.logs import configure_logging
from allotment.placement.config import DEFAULT_DB_URL, Config, load_config

_DB_HELP = f"Database URL (SQLAlchemy form; default {DEFAULT_DB_URL}). postgresql:// and mysql:// pick psycopg 3 / PyMySQL."


def _config(config_file: str | None, db: str | None) -> Config:
    try:
        return load_config(config_file, db_url=db)
    except (OSError, ValueError) as exc:
        raise click.UsageError(f"configuration: {exc}") from exc


def _upgrade(conf: Config) -> None:
    from allotment.infra.database import Database
    from allotment.placement.schema import upgrade

    store = Database(conf.db_url, pool_size=1)
    try:
        upgrade(store)
    finally:
        store.dispose()


@click.command()
@click.option("--db", "db", default=None, help=_DB_HELP)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8778, show_default=True, type=int, help="Port to listen on.")
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1), help="Worker processes.")
@click.option("--threads", default=4, show_default=True, type=click.IntRange(1), help="Threads per worker.")
@click.option("--config", "config_file", default=None, type=click.Path(exists=True, dir_okay=False),
              help="TOML configuration file.")
@door_options
def serve(db: str | None, host: str, port: int, workers: int, threads: int, config_file: str | None,
          max_request_body_size: int | None, limit_request_line: int | None, limit_request_field_size: int | None,
          log_level: str | None, log_format: str | None) -> None:
    """Serve the placement API (creates or upgrades the database schema first)."""
    conf = _config(config_file, db)
    conf.limits, logs = door_settings(
        config_file, conf.limits,
        {"max_request_body_size": max_request_body_size, "limit_request_line": limit_request_line,
         "limit_request_field_size": limit_request_field_size},
        log_level, log_format)
    configure_logging(logs.level, logs.format)
    _upgrade(conf)
    # Import the application code once in the master so forked workers start at once.
    from allotment.placement.api.app import make_ready_app

    click.echo(f"allotment placement API on http://{host}:{port} ({workers} workers, {conf.db_url})", err=True)
    # make_ready_app runs in each worker after the fork: each gets its own engine and pool, and builds its
    # read model before it takes traffic.
    serve_wsgi(lambda: make_ready_app(conf),
               ServeOptions(host, port, workers, threads, logs.level, "allotment-placement", conf.limits))


@click.group()
def db() -> None:
    """Database schema commands."""


@db.command("upgrade")
@click.option("--db", "db_url", default=None, help=_DB_HELP)
@click.option("--config", "config_file", default=None, type=click.Path(exists=True, dir_okay=False))
def db_upgrade(db_url: str | None, config_file: str | None) -> None:
    """Create or upgrade the schema to the latest revision and add standard classes and traits."""
    conf = _config(config_file, db_url)
    _upgrade(conf)
    click.echo(f"database at {conf.db_url} is at the latest schema revision")
