"""``allotment compute run`` with a topology: section, as its own process: reported on start, again when the file changes."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import yaml
from click.testing import CliRunner

from allotment.cli.main import cli
from allotment.scheduler.errors import NotFound
from allotment.scheduler.registry import Registry


def inventory(pcpus: str) -> str:
    return yaml.safe_dump({"DISK_GB": 100, "VCPU": {"total": 1, "allocation_ratio": 4.0},
                           "topology": {"cells": [{"id": 0, "cpus": "0-1", "pcpus": pcpus, "memory_mb": 4096}]}})


def eventually(check: Callable[[], bool], timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return check()


def test_compute_run_reports_the_topology_and_its_changes(db_url: str, tmp_path: Path) -> None:
    inv = tmp_path / "inventory.yaml"
    inv.write_text(inventory("2-5"))
    log = tmp_path / "compute.log"
    with log.open("wb") as out, Registry.open(db_url) as registry:
        proc = subprocess.Popen([sys.executable, "-m", "allotment", "--db", db_url, "compute", "run", "cn1",
                                 "--inventory", str(inv), "--registry-db", db_url, "--watch-interval", "0.2"],
                                stdout=out, stderr=subprocess.STDOUT)
        try:
            def pcpus() -> int | None:
                try:
                    return registry.get_topology("cn1")[0].total_pcpus
                except NotFound:
                    return None

            assert eventually(lambda: pcpus() == 4), log.read_text()
            time.sleep(0.3)  # a new mtime even on coarse clocks
            inv.write_text(inventory("2-7"))
            assert eventually(lambda: pcpus() == 6), log.read_text()
            inv.write_text("topology: {cells: []}\nDISK_GB: 1\n")  # a bad edit: reported, the agent goes on
            assert eventually(lambda: "not reported: topology: cells" in log.read_text()), log.read_text()
            assert proc.poll() is None and pcpus() == 6
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)


def test_a_bad_topology_is_a_usage_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("DISK_GB: 1\ntopology: {cells: [{id: 0, cpus: '0-1', pcpus: '1-2', memory_mb: 1}]}\n")
    db = f"sqlite:///{tmp_path}/a.sqlite"
    for args in (["compute", "run", "cn1", "--inventory", str(bad), "--registry-db", db],
                 ["servers", "serve", "--db", db, "--fake-computes", "1", "--inventory", str(bad)]):
        result = CliRunner().invoke(cli, ["--db", db, *args])
        assert result.exit_code == 2, result.output
        assert "topology: cells" in result.output
