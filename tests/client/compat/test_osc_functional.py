"""osc-placement's own functional tests, run against a real allotment server.

The tests ship inside the ``osc-placement`` package (``osc_placement/tests/functional``).
They drive ``openstack resource provider ...`` commands through python-openstackclient's
shell, in-process, and reach placement through a ``PlacementFixture`` imported from
upstream Placement's test tree. ``osc_shim/`` supplies that fixture pointed at our server
(see ``osc_shim/README.md``); nothing of osc-placement or of allotment is patched. They run
with pytest from the clients' virtualenv, and every test's outcome is read back from the
JUnit XML report.
"""

from __future__ import annotations

import subprocess
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pytest

from allotment.bench.servers import RunningServer
from tests.client.compat.osc_venv import client_env
from tests.client.compat.server_log import requests_logged, server_errors

SHIM = Path(__file__).resolve().parent / "osc_shim"

# Tests allowed to fail, by JUnit id ("test_module.Class.test_name"), each with the reason it cannot pass.
KNOWN_FAILURES: dict[str, str] = {}

# osc-placement 4.9.1 has 160 functional tests; far fewer means collection broke, not success.
MIN_TESTS = 150


@dataclass(frozen=True)
class Outcome:
    test: str
    status: str  # passed, failed, error, skipped
    message: str


def _outcomes(report: Path) -> list[Outcome]:
    found = []
    for case in ET.parse(report).getroot().iter("testcase"):
        test = f"{case.get('classname')}.{case.get('name')}"
        status, message = "passed", ""
        for kind in ("failure", "error", "skipped"):
            node = case.find(kind)
            if node is not None:
                status = {"failure": "failed", "error": "error", "skipped": "skipped"}[kind]
                message = f"{node.get('message', '')}\n{node.text or ''}".strip()
                break
        found.append(Outcome(test, status, message))
    return found


def run_functional_tests(venv: Path, endpoint: str, workdir: Path) -> tuple[list[Outcome], str]:
    """Run osc-placement's functional tests against ``endpoint``; return per-test outcomes and pytest's output."""
    ini = workdir / "pytest.ini"
    ini.write_text("[pytest]\n")  # keeps our pyproject's pytest settings out of their run
    report = workdir / "junit.xml"
    proc = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pytest", "-c", str(ini), "--rootdir", str(workdir),
         "-p", "no:cacheprovider", "-q", "--junitxml", str(report), "--pyargs", "osc_placement.tests.functional"],
        cwd=workdir, capture_output=True, text=True, timeout=900,
        env=client_env(venv, PYTHONPATH=str(SHIM), ALLOTMENT_COMPAT_ENDPOINT=endpoint),
    )
    output = proc.stdout + proc.stderr
    if not report.exists():
        raise AssertionError(f"osc-placement's functional tests did not run (exit {proc.returncode}):\n{output[-4000:]}")
    return _outcomes(report), output


def test_osc_placement_functional_suite(
    osc_venv: Path, server: RunningServer, tmp_path: Path, record_property: pytest.RecordProperty
) -> None:
    outcomes, output = run_functional_tests(osc_venv, server.url, tmp_path)
    passed = [o for o in outcomes if o.status == "passed"]
    record_property("osc_functional_total", len(outcomes))
    record_property("osc_functional_passed", len(passed))

    assert len(outcomes) >= MIN_TESTS, f"only {len(outcomes)} tests collected:\n{output[-4000:]}"
    # The tests really talked to this server: its request log has (many) more lines than there are tests.
    requests = len(requests_logged(server))
    assert requests > 2 * len(outcomes), f"the server logged only {requests} requests"
    assert server_errors(server) == []
    unexpected = [o for o in outcomes if o.status != "passed" and o.test not in KNOWN_FAILURES]
    details = "\n\n".join(f"--- {o.test} [{o.status}]\n{o.message[-1500:]}" for o in unexpected[:20])
    assert not unexpected, f"{len(passed)}/{len(outcomes)} passed; {len(unexpected)} unexpected:\n{details}"
    # A known failure that now passes (or no longer exists) must leave the list.
    stale = sorted(set(KNOWN_FAILURES) - {o.test for o in outcomes if o.status in ("failed", "error")})
    assert not stale, f"KNOWN_FAILURES entries that no longer fail: {stale}"
    assert len(passed) == len(outcomes) - len(KNOWN_FAILURES)
