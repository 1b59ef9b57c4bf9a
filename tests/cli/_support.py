"""Helpers shared by the CLI tests: invoking the command and reading its output."""

from __future__ import annotations

import json
from typing import Any

from click.testing import CliRunner, Result

from allotment.cli.main import cli

# The global options' environment variables, cleared so the developer's shell cannot steer the tests.
CLEAN_ENV: dict[str, str | None] = {"ALLOTMENT_URL": None, "ALLOTMENT_DB": None, "OS_PLACEMENT_API_VERSION": None}


def invoke(args: list[str], *, env: dict[str, str | None] | None = None, input: str | None = None) -> Result:
    """Run ``allotment ARGS`` in-process; exceptions other than click's own propagate (a crash fails the test)."""
    return CliRunner().invoke(cli, args, env={**CLEAN_ENV, **(env or {})}, input=input, catch_exceptions=False)


def ok(result: Result) -> Result:
    assert result.exit_code == 0, f"exit {result.exit_code}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    return result


def ok_json(result: Result) -> Any:
    """The JSON a successful command printed."""
    return json.loads(ok(result).stdout)


def failed(result: Result, code: int = 1) -> str:
    """A command that failed with ``code``; its stderr."""
    assert result.exit_code == code, f"exit {result.exit_code}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    return result.stderr
