"""The ``openstack`` command (python-openstackclient + osc-placement) as an operator runs it.

A separate process per command, with the exact options from issue 5 and no clouds.yaml,
so start-up, plugin loading and version negotiation against our root document are
exercised as they are in real use (osc-placement's functional tests run the shell
in-process instead).
"""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path
from typing import Any

from allotment.bench.servers import RunningServer
from tests.client.compat.osc_venv import client_env
from tests.client.compat.server_log import server_errors


def openstack(venv: Path, server: RunningServer, *args: str, version: str | None = None,
              ok: bool = True) -> subprocess.CompletedProcess[str]:
    cmd = [str(venv / "bin" / "openstack"), "--os-auth-type", "admin_token", "--os-token", "admin",
           "--os-endpoint", server.url]
    if version:
        cmd += ["--os-placement-api-version", version]
    proc = subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=120, env=client_env(venv))
    if ok:
        assert proc.returncode == 0, f"{' '.join(args)} failed:\n{proc.stderr}"
    return proc


def as_json(proc: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(proc.stdout)


def test_an_operator_session(osc_venv: Path, server: RunningServer) -> None:
    root = as_json(openstack(osc_venv, server, "resource", "provider", "create", "cli-root", "-f", "json"))
    assert root["name"] == "cli-root" and root["generation"] == 0
    child = as_json(openstack(osc_venv, server, "resource", "provider", "create", "cli-child",
                              "--parent-provider", root["uuid"], "-f", "json", version="1.14"))
    assert child["parent_provider_uuid"] == root["uuid"] and child["root_provider_uuid"] == root["uuid"]

    listed = as_json(openstack(osc_venv, server, "resource", "provider", "list", "-f", "json"))
    assert sorted(rp["name"] for rp in listed) == ["cli-child", "cli-root"]

    inv = as_json(openstack(osc_venv, server, "resource", "provider", "inventory", "set", root["uuid"],
                            "--resource", "VCPU=8", "--resource", "VCPU:allocation_ratio=2.0",
                            "--resource", "MEMORY_MB=4096", "-f", "json"))
    assert {i["resource_class"]: (i["total"], i["allocation_ratio"]) for i in inv} == {
        "VCPU": (8, 2.0), "MEMORY_MB": (4096, 1.0)}

    consumer, project, user = (str(uuid.uuid4()) for _ in range(3))
    openstack(osc_venv, server, "resource", "provider", "allocation", "set", consumer,
              "--allocation", f"rp={root['uuid']},VCPU=3,MEMORY_MB=512",
              "--project-id", project, "--user-id", user, "-f", "json", version="1.12")
    usage = as_json(openstack(osc_venv, server, "resource", "provider", "usage", "show", root["uuid"], "-f", "json"))
    assert {u["resource_class"]: u["usage"] for u in usage} == {"VCPU": 3, "MEMORY_MB": 512}

    candidates = as_json(openstack(osc_venv, server, "allocation", "candidate", "list",
                                   "--resource", "VCPU=13", "-f", "json", version="1.10"))
    assert [c["resource provider"] for c in candidates] == [root["uuid"]]  # 16 - 3 = 13 left
    none_left = as_json(openstack(osc_venv, server, "allocation", "candidate", "list",
                                  "--resource", "VCPU=14", "-f", "json", version="1.10"))
    assert none_left == []
    assert server_errors(server) == []


def test_errors_reach_the_operator(osc_venv: Path, server: RunningServer) -> None:
    missing = str(uuid.uuid4())
    proc = openstack(osc_venv, server, "resource", "provider", "show", missing, ok=False)
    assert proc.returncode == 1
    assert f"No resource provider with uuid {missing} found (HTTP 404)" in proc.stderr

    parent = as_json(openstack(osc_venv, server, "resource", "provider", "create", "cli-parent", "-f", "json"))
    openstack(osc_venv, server, "resource", "provider", "create", "cli-kid", "--parent-provider", parent["uuid"],
              version="1.14")
    proc = openstack(osc_venv, server, "resource", "provider", "delete", parent["uuid"], ok=False)
    assert proc.returncode == 1
    assert "Unable to delete parent resource provider" in proc.stderr and "HTTP 409" in proc.stderr
    assert server_errors(server) == []
