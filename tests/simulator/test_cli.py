"""``allotment simulate`` through click's CliRunner: the comparison, the results file and the plot."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from allotment.cli.main import cli
from allotment.simulator.results_schema import validate_results
from allotment.simulator.runner import FORMAT

EXAMPLE = Path(__file__).parents[2] / "docs" / "simulator" / "example-trace.csv"
SMALL = ["--hosts", "6", "--host-vcpus", "8", "--host-memory-mb", "16384", "--arrivals", "40", "--rate", "1",
         "--lifetime", "exp:30", "-q"]


def test_two_configurations_compared_in_one_command(tmp_path: Path) -> None:
    out = tmp_path / "sim.json"
    result = CliRunner().invoke(cli, ["simulate", *SMALL, "--config", "spread", "--config", "pack:host_subset_size=2",
                                      "--fail", "10:1:10", "--maintenance", "20:1:5", "--verify",
                                      "--out", str(out)])
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text())
    assert doc["format"] == FORMAT
    validate_results(doc)
    assert [r["label"] for r in doc["runs"]] == ["spread", "pack:host_subset_size=2"]
    assert doc["runs"][1]["config"]["host_subset_size"] == 2
    assert doc["runs"][1]["config"]["weights"]["ram_weight_multiplier"] == -1.0
    for run in doc["runs"]:
        assert run["summary"]["arrivals"] == 40 and run["summary"]["host_failures"] == 1
        assert run["usage_mismatches"] == []
        assert run["samples"][0]["t"] == 0 and len(run["samples"]) > 30
    # The table names both configurations; the plot is a PNG beside the results.
    assert "spread" in result.output and "pack:host_subset_size=2" in result.output
    assert out.with_suffix(".png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_json_output_and_a_trace(tmp_path: Path) -> None:
    plot = tmp_path / "p" / "plot.png"
    result = CliRunner().invoke(cli, ["simulate", "--hosts", "20", "--trace", str(EXAMPLE), "--config", "pack",
                                      "--out", str(tmp_path / "r.json"), "--plot", str(plot), "-q", "-f", "json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [r["config"] for r in rows] == ["pack"]
    assert rows[0]["placed"] + rows[0]["refused"] == 200
    assert plot.is_file()
    doc = json.loads((tmp_path / "r.json").read_text())
    validate_results(doc)
    assert doc["workload"] == {"kind": "trace", "trace": str(EXAMPLE), "arrivals": 200}


def test_no_plot(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    result = CliRunner().invoke(cli, ["simulate", *SMALL, "--config", "spread", "--no-plot", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.is_file() and not out.with_suffix(".png").exists()


def test_help_and_bad_input_are_usage_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    assert "scheduler configurations" in runner.invoke(cli, ["simulate", "--help"]).output
    bad_trace = tmp_path / "t.csv"
    bad_trace.write_text("timestamp,flavor,lifetime\n0,m1.tiny,5\n")
    for args, needle in (
        (["--config", "bogus"], "start with spread or pack"),
        (["--config", "pack:colour=red"], "unknown option 'colour'"),
        (["--config", "pack", "--config", "pack"], "given twice"),
        (["--lifetime", "forever:3"], "forever takes 0"),
        (["--flavor", "x:1"], "expected NAME:VCPUS:MEMORY_MB"),
        (["--fail", "soon:3"], "failure 'soon:3'"),
        (["--maintenance", "10:2"], "give its DURATION"),
        (["--trace", str(bad_trace)], "t.csv:2: unknown flavor 'm1.tiny'"),
        (["--hosts", "0"], "--hosts"),
    ):
        result = runner.invoke(cli, ["simulate", *args, "--out", str(tmp_path / "never.json")])
        assert result.exit_code == 2, (args, result.output)
        assert needle in result.output, (args, result.output)
    assert not (tmp_path / "never.json").exists()


def test_over_http_against_a_running_placement(tmp_path: Path) -> None:
    from allotment.bench.servers import allotment_server
    from allotment.client import connect

    with allotment_server(workers=1) as server:
        out = tmp_path / "http.json"
        result = CliRunner().invoke(cli, ["simulate", *SMALL, "--url", server.url, "--config", "spread",
                                          "--config", "pack", "--verify", "--no-plot", "--out", str(out)])
        assert result.exit_code == 0, result.output
        doc = json.loads(out.read_text())
        assert doc["placement"] == server.url
        assert all(r["usage_mismatches"] == [] and r["summary"]["placed"] > 0 for r in doc["runs"])
        # Each run removes what it wrote: the next configuration starts from an empty placement.
        with connect(server.url) as client:
            assert client.list_providers() == []


def test_an_unreachable_placement_is_an_error_not_a_traceback(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["simulate", *SMALL, "--url", "http://127.0.0.1:9", "--no-plot",
                                      "--out", str(tmp_path / "r.json")])
    assert result.exit_code == 1
    assert "error: cannot reach placement at http://127.0.0.1:9" in result.output


def test_the_committed_results_follow_the_schema_and_the_schema_catches_a_gap() -> None:
    doc = json.loads((Path(__file__).parents[2] / "docs" / "simulator" / "spread-vs-pack.json").read_text())
    validate_results(doc)
    del doc["runs"][0]["summary"]["placed"]
    with pytest.raises(jsonschema.ValidationError, match="'placed' is a required property"):
        validate_results(doc)
