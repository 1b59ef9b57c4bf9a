"""``allotment provider tree`` and ``allotment provider load``."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from allotment.client import Allocations, Inventory, PlacementClient
from tests.cli._support import CLEAN_ENV, failed, ok, ok_json
from tests.cli.conftest import Run

CN1 = "11111111-1111-4111-8111-111111111111"
NUMA0 = "11111111-1111-4111-8111-1111111111a0"
CN2 = "22222222-2222-4222-8222-222222222222"
AGG = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa"
VM = "33333333-3333-4333-8333-333333333333"

LOAD_FILE = f"""
providers:
  - name: shared-disk
    uuid: {CN2}
    inventories: {{DISK_GB: {{total: 2000, reserved: 100}}}}
    aggregates: [{AGG}]
  - name: cn1-gpu0
    parent: cn1                       # described later in the file
    inventories: {{CUSTOM_GPU_A100: 1}}
    traits: [CUSTOM_NVLINK]
  - name: cn1
    inventories: {{VCPU: 32, MEMORY_MB: {{total: 131072, reserved: 2048}}}}
    traits: [HW_CPU_X86_AVX2]
    aggregates: [{AGG}]
"""


def test_tree_shows_usage_inventory_and_traits(run: Run, placement: PlacementClient) -> None:
    cn1 = placement.create_provider("cn1", uuid=CN1)
    gen = placement.set_inventories(CN1, cn1.generation, {"VCPU": Inventory(total=8, allocation_ratio=4.0),
                                                          "MEMORY_MB": Inventory(total=4096, reserved=512)})
    gen = placement.set_provider_traits(CN1, gen, ["HW_CPU_X86_AVX2"])
    placement.set_aggregates(CN1, gen, [AGG])
    numa = placement.create_provider("cn1-numa0", uuid=NUMA0, parent_uuid=CN1)
    placement.set_inventories(NUMA0, numa.generation, {"PCPU": Inventory(total=4)})
    placement.create_provider("cn2", uuid=CN2)
    placement.put_allocations(VM, Allocations({CN1: {"VCPU": 4, "MEMORY_MB": 1024}, NUMA0: {"PCPU": 1}},
                                              "p", "u", None, "INSTANCE"))

    text = ok(run("provider", "tree")).stdout
    lines = text.splitlines()
    assert lines[0] == f"cn1  {CN1}"
    assert "├── MEMORY_MB 1024/3584  total=4096 reserved=512" in lines
    assert "├── VCPU 4/32  total=8 allocation_ratio=4.0" in lines
    assert "├── traits: HW_CPU_X86_AVX2" in lines
    assert f"├── aggregates: {AGG}" in lines
    assert f"└── cn1-numa0  {NUMA0}" in lines
    assert "    └── PCPU 1/4  total=4" in lines  # indented under its parent
    assert f"cn2  {CN2}" in lines

    # One tree only, by the uuid of any provider in it.
    only = ok(run("provider", "tree", NUMA0)).stdout
    assert f"cn1  {CN1}" in only and CN2 not in only

    roots = ok_json(run("provider", "tree", "-f", "json"))
    assert [r["name"] for r in roots] == ["cn1", "cn2"]
    cn1_node = roots[0]
    assert cn1_node["inventories"]["VCPU"]["used"] == 4 and cn1_node["inventories"]["VCPU"]["capacity"] == 32
    assert cn1_node["traits"] == ["HW_CPU_X86_AVX2"] and cn1_node["aggregates"] == [AGG]
    assert [c["uuid"] for c in cn1_node["children"]] == [NUMA0]
    assert cn1_node["children"][0]["inventories"]["PCPU"]["used"] == 1
    assert "children:" in ok(run("provider", "tree", "-f", "yaml")).stdout

    stderr = failed(run("provider", "tree", VM))
    assert stderr.startswith("error:") and "(placement.undefined_code)" in stderr


def test_tree_of_nothing(run: Run) -> None:
    assert ok(run("provider", "tree")).stdout == "no resource providers\n"


def test_load_creates_then_changes_nothing(run: Run, placement: PlacementClient, tmp_path: Path) -> None:
    path = tmp_path / "fleet.yaml"
    path.write_text(LOAD_FILE)
    result = ok(run("provider", "load", str(path), "-f", "json"))
    rows = json.loads(result.stdout)
    assert [(r["name"], r["result"], r["error"]) for r in rows] == [
        ("shared-disk", "created", ""), ("cn1", "created", ""), ("cn1-gpu0", "created", ""),
    ]  # parents first
    assert "[3/3] cn1-gpu0: created" in result.stderr  # plain progress off a terminal
    assert result.stderr.rstrip().endswith("3 providers: 3 created, 0 updated, 0 unchanged, 0 failed")
    uuids = {r["name"]: r["uuid"] for r in rows}
    assert uuids["shared-disk"] == CN2

    cn1 = uuids["cn1"]
    gpu = placement.get_provider(uuids["cn1-gpu0"])
    assert gpu.parent_provider_uuid == cn1
    _, inv = placement.get_inventories(cn1)
    assert inv == {"VCPU": Inventory(total=32), "MEMORY_MB": Inventory(total=131072, reserved=2048)}
    assert placement.get_inventories(gpu.uuid)[1] == {"CUSTOM_GPU_A100": Inventory(total=1)}
    assert placement.get_provider_traits(gpu.uuid)[1] == ["CUSTOM_NVLINK"]  # the custom trait was created
    assert sorted(placement.get_aggregates(cn1)[1]) == [AGG]
    assert placement.get_inventories(CN2)[1] == {"DISK_GB": Inventory(total=2000, reserved=100)}

    generations = {name: placement.get_provider(u).generation for name, u in uuids.items()}
    again = ok_json(run("provider", "load", str(path), "-f", "json"))
    assert [r["result"] for r in again] == ["unchanged"] * 3
    assert {name: placement.get_provider(u).generation for name, u in uuids.items()} == generations  # no writes

    # Edit the file: cn1 gets more CPU; the rest stays unchanged and untouched.
    path.write_text(LOAD_FILE.replace("VCPU: 32", "VCPU: 64"))
    third = ok_json(run("provider", "load", str(path), "-f", "json"))
    assert [(r["name"], r["result"]) for r in third] == [
        ("shared-disk", "unchanged"), ("cn1", "updated"), ("cn1-gpu0", "unchanged"),
    ]
    assert placement.get_inventories(cn1)[1]["VCPU"].total == 64
    assert placement.get_provider(uuids["shared-disk"]).generation == generations["shared-disk"]


def test_load_reports_each_failure_and_goes_on(run: Run, placement: PlacementClient, tmp_path: Path) -> None:
    cn1 = placement.create_provider("in-use", uuid=CN1)
    placement.set_inventories(CN1, cn1.generation, {"VCPU": Inventory(total=8)})
    placement.put_allocations(VM, Allocations({CN1: {"VCPU": 4}}, "p", "u", None, "INSTANCE"))
    path = tmp_path / "fleet.json"
    path.write_text(json.dumps([
        {"name": "bad-reserved", "inventories": {"VCPU": {"total": 4, "reserved": 5}}},
        {"name": "orphan", "parent": "bad-reserved"},
        {"name": "good", "traits": ["HW_CPU_X86_SSE"]},
        {"name": "in-use", "uuid": CN1, "inventories": {}},       # would drop inventory that is allocated
        {"name": "nowhere", "parent": "no-such-provider"},
    ]))
    result = run("provider", "load", str(path), "-f", "json")
    assert result.exit_code == 1
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    assert rows["good"]["result"] == "created" and rows["good"]["error"] == ""
    assert rows["bad-reserved"]["result"] == "failed"
    assert rows["bad-reserved"]["error"].endswith("(placement.undefined_code)")
    assert rows["orphan"]["error"] == "parent 'bad-reserved' failed to load"
    assert rows["in-use"]["error"].endswith("(placement.inventory.inuse)")
    assert rows["nowhere"]["error"] == "parent 'no-such-provider' is neither in the file nor in placement"
    assert "error: bad-reserved: " in result.stderr and "error: in-use: " in result.stderr
    assert "5 providers: 1 created, 0 updated, 0 unchanged, 4 failed" in result.stderr
    assert placement.get_inventories(CN1)[1] == {"VCPU": Inventory(total=8)}  # nothing half-done
    assert placement.get_provider_traits(placement.list_providers(name="good")[0].uuid)[1] == ["HW_CPU_X86_SSE"]


@pytest.mark.parametrize(("content", "message"), [
    ("providers: [", "not YAML or JSON"),
    ("{a: 1}", "expected a list of providers"),
    ("- {uuid: x}", "provider #1 has no name"),
    ("- {name: a, colour: red}", "unknown keys colour"),
    ("- {name: a}\n- {name: a}", "name 'a' appears twice"),
    ("- {name: a, parent: b}\n- {name: b, parent: a}", "parent cycle"),
    ("- {name: a, inventories: {VCPU: many}}", "inventory of VCPU must be"),
    ("- {name: a, traits: HW_CPU_X86_SSE}", "traits must be a list"),
])
def test_load_rejects_bad_files(run: Run, placement: PlacementClient, tmp_path: Path, content: str,
                                message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(content)
    assert message in failed(run("provider", "load", str(path)), code=2)
    assert placement.list_providers() == []


def test_load_from_stdin_and_missing_file(run: Run, placement: PlacementClient, tmp_path: Path) -> None:
    rows = ok_json(run("provider", "load", "-", "-f", "json", input="- name: piped\n  inventories: {VCPU: 2}\n"))
    assert rows[0]["result"] == "created"
    assert placement.list_providers()[0].name == "piped"
    assert "No such file" in failed(run("provider", "load", str(tmp_path / "absent.yaml")), code=2)


def test_load_shows_a_progress_bar_on_a_terminal(db_url: str, tmp_path: Path) -> None:
    """The real command in a subprocess with its stderr on a pseudo-terminal."""
    path = tmp_path / "fleet.yaml"
    path.write_text(LOAD_FILE)
    master, slave = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k not in CLEAN_ENV}
    env.update(COLUMNS="120", TERM="xterm")
    proc = subprocess.Popen([sys.executable, "-m", "allotment", "--db", db_url, "provider", "load", str(path),
                             "-f", "value", "-c", "result"],
                            stdout=subprocess.PIPE, stderr=slave, env=env)
    os.close(slave)
    seen = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # the terminal closes when the process exits
            break
        if not chunk:
            break
        seen += chunk
    stdout, _ = proc.communicate(timeout=60)
    os.close(master)
    assert proc.returncode == 0, seen.decode(errors="replace")
    screen = seen.decode(errors="replace")
    assert "━" in screen and "3/3" in screen and "loaded providers" in screen
    assert "[1/3]" not in screen  # the plain lines are for non-terminals
    assert stdout.decode() == "created\ncreated\ncreated\n"
