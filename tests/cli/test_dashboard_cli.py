"""``allotment dashboard``: help, usage errors, and the flavor option's checks (the serving is tested live
in tests/dashboard/test_browser.py)."""

from __future__ import annotations

from click.testing import CliRunner

from allotment.cli.main import cli


def test_without_a_subcommand_it_shows_its_usage() -> None:
    result = CliRunner().invoke(cli, ["dashboard"])
    assert "serve" in result.output and "Usage:" in result.output


def test_serve_help_names_every_option() -> None:
    result = CliRunner().invoke(cli, ["dashboard", "serve", "--help"])
    assert result.exit_code == 0
    for option in ("--placement-url", "--placement-db", "--scheduler-url", "--simulation", "--flavor", "--port"):
        assert option in result.output


def test_bad_flavor_and_missing_simulation_file_are_usage_errors(tmp_path: object) -> None:
    bad = CliRunner().invoke(cli, ["dashboard", "serve", "--flavor", "tiny:one:512"])
    assert bad.exit_code == 2 and "whole numbers" in bad.output
    missing = CliRunner().invoke(cli, ["dashboard", "serve", "--simulation", f"{tmp_path}/none.json"])
    assert missing.exit_code == 2 and "does not exist" in missing.output
    both = CliRunner().invoke(cli, ["dashboard", "serve", "--placement-url", "http://x", "--placement-db", "sqlite://"])
    assert both.exit_code == 2 and "not both" in both.output
