"""Schemathesis, driven by docs/openapi/placement.json, against a live ``allotment serve``.

Per backend (SQLite; PostgreSQL when reachable, required under CI): a fresh database,
a server recording every exchange, a little data to find (providers with inventories,
traits, an aggregate, a consumer), then ``schemathesis run`` (examples, coverage,
fuzzing and stateful phases over the document's links; fixed seed and example count)
with the checks: no 5xx, statuses, content types, headers and bodies as documented, and
``refused_writes_change_nothing`` (tests/openapi/fuzz_hooks.py). Afterwards every recorded
exchange is validated again by tests/openapi/exchanges.py.

Bigger runs on demand (see the README): ``ALLOTMENT_FUZZ_EXAMPLES=200``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid as uuidlib
from collections import Counter
from pathlib import Path

import httpx
import pytest

from allotment.bench.databases import fresh_database
from allotment.bench.servers import allotment_server
from tests.conftest import require_backend
from tests.openapi.exchanges import PLACEMENT_DOC, ROOT, check_records, read_records

# Examples per operation and fuzzing mode. Requests cost more on PostgreSQL (each write is
# bracketed by two reads of every table), so CI asks it for fewer. ALLOTMENT_FUZZ_EXAMPLES
# sets both.
EXAMPLES = {"sqlite": 10, "postgresql": 6}
SEED = int(os.environ.get("ALLOTMENT_FUZZ_SEED", "1"))
CHECK_NAMES = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "refused_writes_change_nothing",
)
# The coverage phase (boundary values of every documented parameter) is deterministic and the
# longest; CI runs it on SQLite only. ALLOTMENT_FUZZ_PHASES overrides for both backends.
PHASES = {"sqlite": "examples,coverage,fuzzing,stateful", "postgresql": "examples,fuzzing,stateful"}


# The seeded data's names, which the fuzzer also draws path parameters from (half the time).
ROOT_RP, CHILD_RP, CONSUMER = (str(uuidlib.UUID(int=n)) for n in (1, 2, 3))
DICTIONARIES = {
    "providers": [ROOT_RP, CHILD_RP],
    "consumers": [CONSUMER],
    "classes": ["VCPU", "MEMORY_MB", "DISK_GB", "CUSTOM_FPGA"],
    "names": ["CUSTOM_FAST", "HW_CPU_X86_AVX2", "CUSTOM_FPGA", "VCPU"],
    # Without the header a request is at 1.0, where half the routes do not exist yet.
    "versions": ["placement latest", "placement 1.39", "placement 1.38", "placement 1.37", "placement 1.36"],
}
BINDINGS = {"path.uuid": "providers", "path.consumer_uuid": "consumers", "path.resource_class": "classes",
            "path.name": "names", "header.OpenStack-API-Version": "versions"}


def _config(path: Path) -> Path:
    lines = ["[parameters]"]
    lines += [f'"{key}" = {{ dictionary = "{name}", probability = 0.5 }}' for key, name in BINDINGS.items()]
    for name, values in DICTIONARIES.items():
        lines += ["", f"[dictionaries.{name}]", f"values = {json.dumps(values)}"]
    path.write_text("\n".join(lines) + "\n")
    return path


def _seed(url: str) -> None:
    """Something for the fuzzer to find: a compute node with a child, traits, an aggregate, a consumer."""
    headers = {"x-auth-token": "admin", "openstack-api-version": "placement latest"}
    with httpx.Client(base_url=url, headers=headers) as api:
        root = api.post("/resource_providers", json={"name": "compute-1", "uuid": ROOT_RP}).json()
        child = api.post("/resource_providers", json={"name": "compute-1-numa0", "uuid": CHILD_RP,
                                                       "parent_provider_uuid": root["uuid"]}).json()
        api.put(f"/resource_providers/{root['uuid']}/inventories", json={
            "resource_provider_generation": root["generation"],
            "inventories": {"DISK_GB": {"total": 1000}}}).raise_for_status()
        api.put(f"/resource_providers/{child['uuid']}/inventories", json={
            "resource_provider_generation": child["generation"],
            "inventories": {"VCPU": {"total": 16}, "MEMORY_MB": {"total": 32768}}}).raise_for_status()
        api.put("/traits/CUSTOM_FAST").raise_for_status()
        api.put(f"/resource_providers/{root['uuid']}/traits", json={
            "resource_provider_generation": 1, "traits": ["HW_CPU_X86_AVX2", "CUSTOM_FAST"]}).raise_for_status()
        api.put(f"/resource_providers/{root['uuid']}/aggregates", json={
            "resource_provider_generation": 2, "aggregates": [str(uuidlib.uuid4())]}).raise_for_status()
        api.put("/resource_classes/CUSTOM_FPGA").raise_for_status()
        api.put(f"/allocations/{CONSUMER}", json={
            "allocations": {child["uuid"]: {"resources": {"VCPU": 2}}}, "project_id": "admin",
            "user_id": "admin", "consumer_generation": None, "consumer_type": "INSTANCE"}).raise_for_status()


def _schemathesis() -> list[str]:
    found = shutil.which("schemathesis", path=str(Path(sys.executable).parent)) or shutil.which("schemathesis")
    assert found, "schemathesis is in the test extras: pip install -e '.[test]'"
    return [found]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_fuzzing_finds_no_server_error_and_no_violation(backend: str, tmp_path: Path) -> None:
    require_backend(backend)
    record = tmp_path / "exchanges.jsonl"
    with fresh_database(backend) as db_url, \
            allotment_server(db_url, env={"ALLOTMENT_RECORD_EXCHANGES": str(record)}) as server:
        _seed(server.url)
        seeded = sum(1 for _ in read_records(record))
        env = {**os.environ, "SCHEMATHESIS_HOOKS": "tests.openapi.fuzz_hooks", "ALLOTMENT_FUZZ_DB": db_url,
               "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
        proc = subprocess.run(
            [*_schemathesis(), "--config-file", str(_config(tmp_path / "schemathesis.toml")), "run",
             str(PLACEMENT_DOC), "--url", server.url, "-H", "X-Auth-Token: admin",
             "--checks", ",".join(CHECK_NAMES), "--phases", os.environ.get("ALLOTMENT_FUZZ_PHASES", PHASES[backend]),
             "-n", os.environ.get("ALLOTMENT_FUZZ_EXAMPLES", str(EXAMPLES[backend])), "--seed", str(SEED), "--workers", "1", "--max-failures", "20",
             "--suppress-health-check", "all", "--warnings", "off"],
            capture_output=True, text=True, env=env, cwd=tmp_path, timeout=900, check=False,
        )
    assert proc.returncode == 0, proc.stdout[-20000:] + proc.stderr[-5000:]
    report = check_records(json.loads(PLACEMENT_DOC.read_text()), read_records(record))
    assert report.violations == []
    sent = report.checked + report.outside - seeded
    statuses = Counter(r["status"] for r in list(read_records(record))[seeded:])
    print(f"\n{backend}: {sent} requests from schemathesis, {report.checked} checked against "
          f"{len(report.by_operation)} operations, 0 violations; statuses {sorted(statuses.items())}")
    assert sent > 300 and len(report.by_operation) >= 30
