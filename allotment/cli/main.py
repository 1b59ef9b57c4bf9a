"""Entry point of the ``allotment`` command."""

from __future__ import annotations

import click

from allotment import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="allotment")
def cli() -> None:
    """allotment: placement and scheduling for clouds and clusters."""


def _register() -> None:
    from allotment.cli import serve

    cli.add_command(serve.serve)
    cli.add_command(serve.db)
    try:
        from allotment.bench.cli import bench
    except ImportError:  # the bench tool is optional at import time
        return
    cli.add_command(bench)


_register()


def main() -> None:
    cli()
