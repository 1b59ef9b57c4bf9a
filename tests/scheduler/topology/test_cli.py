"""``allotment host topology set|show`` through click's CliRunner, on SQLite placement and registry."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from click.testing import CliRunner, Result

from allotment.cli.hosts import host
from allotment.client import direct
from allotment.scheduler.registry import Registry
from tests.scheduler.topology.test_scheduling import topology


def run(*args: str) -> Result:
    result = CliRunner().invoke(host, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def test_set_then_show(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/all.sqlite"
    with direct(db) as placement:
        root = placement.create_provider("cn1").uuid
    with Registry.open(db) as registry:
        registry.register_host("cn1", root)
    doc = tmp_path / "topo.yaml"
    doc.write_text(yaml.safe_dump(topology()))
    r = run("--db", db, "topology", "set", "cn1", "--file", str(doc), "--placement-db", db, "-f", "json")
    assert r.exit_code == 0, r.output
    body = json.loads(r.output)
    assert (body["vcpu"], body["pcpu"], body["memory_mb"], len(body["pci_providers"])) == (4, 8, 16384, 2)
    with direct(db) as placement:
        assert {rc: inv.total for rc, inv in placement.get_inventories(root)[1].items()} == {
            "VCPU": 4, "PCPU": 8, "MEMORY_MB": 16384}
    r = run("--db", db, "topology", "show", "cn1")
    assert r.exit_code == 0 and "dedicated 2-5" in r.output


def test_errors_and_usage(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/all.sqlite"
    doc = tmp_path / "topo.json"
    doc.write_text(json.dumps({"cells": [{"id": 0, "cpus": "0-1", "pcpus": "1-2", "memory_mb": 1}]}))
    with Registry.open(db) as registry:
        registry.register_host("cn1", "0b6c4f4e-2d2f-4c1e-9f5e-8a1d2b3c4d5e")
    r = run("--db", db, "topology", "set", "cn1", "--file", str(doc), "--placement-db", db)
    assert r.exit_code == 1 and "CPU(s) 1 are both shared and dedicated" in r.output
    r = run("--db", db, "topology", "show", "cn1")
    assert r.exit_code == 1 and "has no topology registered (scheduler.topology.not_found)" in r.output
    assert run("--db", db, "topology", "set").exit_code == 2
    assert run("topology", "show", "cn1").exit_code == 2
    assert run("--db", db, "topology", "--help").exit_code == 0
