"""``allotment serve`` and ``allotment db upgrade``."""

from __future__ import annotations

import logging
import sys
from typing import Any

import click

from allotment.placement.config import DEFAULT_DB_URL, Config, load_config

_DB_HELP = f"Database URL (SQLAlchemy form; default {DEFAULT_DB_URL}). postgresql:// and mysql:// pick psycopg 3 / PyMySQL."


def _config(config_file: str | None, db: str | None) -> Config:
    try:
        return load_config(config_file, db_url=db)
    except (OSError, ValueError) as exc:
        raise click.UsageError(f"configuration: {exc}") from exc


def _upgrade(conf: Config) -> None:
    from allotment.placement.store.engine import Store
    from allotment.placement.store.migrate import upgrade

    store = Store(conf.db_url, pool_size=1)
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
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"]))
def serve(db: str | None, host: str, port: int, workers: int, threads: int, config_file: str | None,
          log_level: str) -> None:
    """Serve the placement API (creates or upgrades the database schema first)."""
    conf = _config(config_file, db)
    logging.basicConfig(level=log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(process)d %(levelname)s %(name)s %(message)s")
    _upgrade(conf)
    from gunicorn.app.base import BaseApplication

    # Import the application code once in the master so forked workers start at once.
    import allotment.placement.api.app  # noqa: F401

    class _Server(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            settings: dict[str, Any] = {
                "bind": f"{host}:{port}",
                "workers": workers,
                "threads": threads,
                "worker_class": "gthread",
                "graceful_timeout": 10,
                "timeout": 120,
                "keepalive": 2,
                "accesslog": None,
                "loglevel": log_level,
                "proc_name": "allotment-placement",
                "control_socket_disable": True,
            }
            for key, value in settings.items():
                self.cfg.set(key, value)

        def load(self) -> Any:
            # Runs in each worker after the fork: each gets its own engine and pool.
            from allotment.placement.api.app import make_app

            return make_app(conf)

    click.echo(f"allotment placement API on http://{host}:{port} ({workers} workers, {conf.db_url})", err=True)
    _Server().run()


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
