"""The CLI over HTTP against a real ``allotment serve`` process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from allotment.bench.servers import RunningServer, allotment_server, free_port
from allotment.client import connect
from tests.cli._support import CLEAN_ENV, failed, invoke, ok, ok_json

CN1 = "11111111-1111-4111-8111-111111111111"
VM = "33333333-3333-4333-8333-333333333333"


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    with allotment_server(workers=1) as running:
        yield running


def test_commands_over_http(server: RunningServer) -> None:
    url = ["--url", server.url]
    ok(invoke([*url, "provider", "create", "cn1", "--uuid", CN1]))
    ok(invoke([*url, "inventory", "set", CN1, "--resource", "VCPU=8", "--resource", "MEMORY_MB=2048"]))
    ok(invoke([*url, "allocation", "set", VM, "--allocation", f"rp={CN1},VCPU=2", "--project-id", "p",
               "--user-id", "u", "--consumer-type", "INSTANCE"]))
    with connect(server.url) as client:
        assert client.provider_usages(CN1) == {"VCPU": 2, "MEMORY_MB": 0}
    # ALLOTMENT_URL does what --url does.
    rows = ok_json(invoke(["inventory", "list", CN1, "-f", "json"], env={"ALLOTMENT_URL": server.url}))
    assert {r["resource_class"]: r["used"] for r in rows} == {"VCPU": 2, "MEMORY_MB": 0}
    assert "VCPU 2/8" in ok(invoke([*url, "provider", "tree"])).stdout
    stderr = failed(invoke([*url, "provider", "show", VM]))
    assert stderr.startswith("error:") and "(placement.undefined_code)" in stderr


def test_token_is_sent(server: RunningServer) -> None:
    # noauth2: a user without the admin role is refused by the default policy.
    stderr = failed(invoke(["--url", server.url, "--token", "alice:proj", "class", "list"]))
    assert stderr.startswith("error:") and "(HTTP 403)" not in stderr and "policy" in stderr.lower()


def test_unreachable_server_is_named() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    stderr = failed(invoke(["--url", url, "provider", "list"]))
    assert stderr.startswith(f"error: cannot reach placement at {url}")


def test_installed_command_in_a_process(server: RunningServer) -> None:
    with connect(server.url) as client:
        made = client.create_provider("made-by-client")
    env = {k: v for k, v in os.environ.items() if k not in CLEAN_ENV}
    done = subprocess.run([sys.executable, "-m", "allotment", "--url", server.url, "provider", "list", "-f", "json",
                           "--name", "made-by-client"], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert [p["uuid"] for p in json.loads(done.stdout)] == [made.uuid]
    done = subprocess.run([sys.executable, "-m", "allotment", "--url", server.url, "inventory", "set", CN1,
                           "--resource", "VCPU"], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 2 and "Invalid value for '--resource'" in done.stderr
