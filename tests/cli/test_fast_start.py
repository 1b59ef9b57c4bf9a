"""A fast start: ``allotment --help`` and the placement commands over HTTP import only what they use.

Each check runs the commands in a fresh interpreter and reads its ``sys.modules`` at the
end: the scheduler, SQLAlchemy, jsonschema and the placement application must not be
there (together they cost about a second of imports).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from allotment.bench.servers import RunningServer, allotment_server
from allotment.cli import main as cli_main
from allotment.cli.lazy import LazyGroup
from allotment.cli.providers import provider
from allotment.cli.session import DEFAULT_MICROVERSION
from allotment.client import DEFAULT_MICROVERSION as CLIENT_MICROVERSION
from allotment.client import Inventory, connect
from tests.cli._support import CLEAN_ENV

# Modules none of these commands needs; any of them means an eager import crept back in.
HEAVY = ("sqlalchemy", "alembic", "jsonschema", "falcon", "gunicorn", "allotment.scheduler", "allotment.placement",
         "allotment.bench")

_RUN = """
import json, sys
from allotment.cli.main import cli
for args in json.loads(sys.argv[1]):
    try:
        cli.main(args, prog_name="allotment", standalone_mode=False)
    except SystemExit as exc:
        if exc.code:
            raise
with open(sys.argv[2], "w") as f:
    json.dump(sorted(sys.modules), f)
"""


def _modules_after(tmp_path: Path, *commands: list[str]) -> set[str]:
    """The modules a fresh interpreter holds after running ``commands`` (each an argument list) in turn."""
    out = tmp_path / "modules.json"
    env = {k: v for k, v in os.environ.items() if k not in CLEAN_ENV}
    done = subprocess.run([sys.executable, "-c", _RUN, json.dumps(commands), str(out)], capture_output=True,
                          text=True, env=env, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return set(json.loads(out.read_text()))


def _heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY))


def test_help_imports_click_and_little_else(tmp_path: Path) -> None:
    modules = _modules_after(tmp_path, ["--help"], ["provider", "--help"], ["provider", "list", "--help"])
    assert _heavy(modules) == []
    # Not even the HTTP client or the table renderer: help is click alone.
    assert [m for m in modules if m.split(".")[0] in ("httpx", "rich", "yaml")] == []


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    with allotment_server(workers=1) as running:
        yield running


def test_placement_commands_over_http_stay_clear_of_the_server_side(server: RunningServer, tmp_path: Path) -> None:
    with connect(server.url) as client:
        rp = client.create_provider("fast-start")
        client.set_inventories(rp.uuid, rp.generation, {"VCPU": Inventory(total=4)})
    url = ["--url", server.url]
    commands = [
        [*url, "provider", "list"],
        [*url, "provider", "list", "-f", "json"],
        [*url, "provider", "show", rp.uuid, "-f", "yaml"],
        [*url, "provider", "tree"],
        [*url, "inventory", "list", rp.uuid, "-f", "csv"],
        [*url, "trait", "list", "--provider", rp.uuid, "-f", "value"],
        [*url, "aggregate", "list", rp.uuid],
        [*url, "usage", "show", "--provider", rp.uuid],
        [*url, "class", "list", "-f", "value"],
        [*url, "candidate", "list", "--resource", "VCPU=1"],
    ]
    modules = _modules_after(tmp_path, *commands)
    assert "httpx" in modules and "rich.table" in modules  # the commands did run and render
    assert _heavy(modules) == []


def test_the_lazy_tables_match_the_commands() -> None:
    # The help line recorded beside each lazily loaded command is the command's own.
    groups: list[LazyGroup] = [cli_main.cli, provider]  # type: ignore[list-item]
    for group in groups:
        for name, (_, line) in group.lazy.items():
            command = group.load(name)
            assert isinstance(command, click.Command)
            assert command.get_short_help_str(1000) == line, name
    assert DEFAULT_MICROVERSION == CLIENT_MICROVERSION
