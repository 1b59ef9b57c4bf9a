"""Pytest plumbing for the gabbit conformance tests.

The gabbit files are independent (fresh database, fresh server each), so they
run concurrently in one background ``python -m tests.conformance.runner
--jsonl`` process, started when the first conformance test needs a result and
fed exactly the (file, backend) pairs selected for this session. Each test
then just waits for its own result line. Running the files in a separate
process keeps pytest's warning filters and signal handling out of the
servers' way.

Knobs (environment variables):

* ``ALLOTMENT_CONFORMANCE_JOBS``: files run at once (default: CPU count).
* ``ALLOTMENT_CONFORMANCE_LOGS``: directory where each server's log is kept.
* ``ALLOTMENT_CONFORMANCE_TARGET``: ``allotment`` (default) or ``upstream``,
  the latter to check the harness itself against upstream Placement.
* ``ALLOTMENT_CONFORMANCE_JSON``: write all results (per-test outcomes) to this file.
* ``CI``: when set, an unavailable database backend fails instead of skipping.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest

from allotment.bench.databases import BACKENDS, backend_available
from tests.conformance.runner import FileResult, format_table

_REPO = Path(__file__).resolve().parents[2]
TARGET = os.environ.get("ALLOTMENT_CONFORMANCE_TARGET", "allotment")


@functools.cache
def _backend_available(backend: str) -> tuple[bool, str]:
    return backend_available(backend)


class ConformanceSession:
    """Results of the selected (gabbit, backend) pairs, produced in the background."""

    def __init__(self) -> None:
        self.planned: list[tuple[str, str]] = []  # (file name, backend), in test order
        self.results: dict[tuple[str, str], FileResult] = {}
        self._proc: subprocess.Popen[str] | None = None
        self._stderr: IO[str] | None = None
        self._started_backends: list[str] = []
        # Every exchange the allotment servers answer, for the check against the OpenAPI document.
        self.exchanges = Path(tempfile.mkdtemp(prefix="conformance-exchanges-")) / "exchanges.jsonl"

    @staticmethod
    def available(backend: str) -> tuple[bool, str]:
        return _backend_available(backend)

    def plan(self, name: str, backend: str) -> None:
        if (name, backend) not in self.planned:
            self.planned.append((name, backend))

    def _start(self, backends: list[str]) -> None:
        jobs = os.environ.get("ALLOTMENT_CONFORMANCE_JOBS", str(os.cpu_count() or 2))
        cmd = [sys.executable, "-m", "tests.conformance.runner", "--jsonl", "-j", jobs, "--target", TARGET]
        if os.environ.get("ALLOTMENT_CONFORMANCE_LOGS"):
            cmd += ["--logs", os.environ["ALLOTMENT_CONFORMANCE_LOGS"]]
        for name, backend in self.planned:  # in test order, so results arrive roughly when needed
            if backend in backends:
                cmd += ["--pair", f"{backend}:{name}"]
        self._stderr = tempfile.TemporaryFile("w+", prefix="conformance-runner-")  # noqa: SIM115
        env = {**os.environ, "ALLOTMENT_RECORD_EXCHANGES": str(self.exchanges)}
        self._proc = subprocess.Popen(cmd, cwd=_REPO, stdout=subprocess.PIPE, stderr=self._stderr, text=True,
                                      env=env)
        self._started_backends = backends

    def result(self, name: str, backend: str) -> FileResult:
        key = (name, backend)
        if key in self.results:
            return self.results[key]
        if self._proc is None:
            self.plan(name, backend)
            self._start([b for b in dict.fromkeys(b for _, b in self.planned) if self.available(b)[0]])
        assert self._proc is not None and self._proc.stdout is not None
        for line in self._read_lines():
            res = FileResult.from_json(json.loads(line))
            self.results[(res.name, res.backend)] = res
            if (res.name, res.backend) == key:
                return res
        # The runner ended without producing this result.
        self._proc.wait()
        detail = self._stderr_tail()
        return FileResult(name=name, passed=0, failed=0, skipped=0, target=TARGET, backend=backend,
                          error=f"conformance runner exited ({self._proc.returncode}) without a result "
                                f"for {name} [{backend}]:\n{detail}",
                          failures=[("(harness)", "no result from the conformance runner")])

    def all_results(self) -> list[FileResult]:
        """Every planned result on an available backend (waiting for the runner to produce them)."""
        return [self.result(name, backend) for name, backend in self.planned if self.available(backend)[0]]

    def _read_lines(self) -> Iterator[str]:
        assert self._proc is not None and self._proc.stdout is not None
        for line in self._proc.stdout:
            line = line.strip()
            if line.startswith("{"):
                yield line

    def _stderr_tail(self) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        return self._stderr.read()[-3000:]

    def close(self) -> None:
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.terminate()
                try:
                    self._proc.wait(30)
                except subprocess.TimeoutExpired:
                    self._proc.kill()
                    self._proc.wait()
            if self._proc.stdout is not None:
                self._proc.stdout.close()
        if self._stderr is not None:
            self._stderr.close()
        shutil.rmtree(self.exchanges.parent, ignore_errors=True)


_SESSION = ConformanceSession()


def pytest_collection_finish(session: pytest.Session) -> None:
    """Remember which (gabbit, backend) pairs this session will ask for, in order.

    Runs after ``-k``/``-m`` deselection, so only the selected files are run.
    """
    for item in session.items:
        callspec = getattr(item, "callspec", None)
        if callspec is None or item.get_closest_marker("conformance") is None:
            continue
        params = callspec.params
        if "gabbit" in params and "backend" in params:
            _SESSION.plan(str(params["gabbit"]), str(params["backend"]))


@pytest.fixture(scope="session")
def conformance_session() -> Iterator[ConformanceSession]:
    yield _SESSION
    _SESSION.close()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config) -> None:
    if not _SESSION.results:
        return
    ordered = [_SESSION.results[k] for k in _SESSION.planned if k in _SESSION.results]
    terminalreporter.section(f"upstream gabbit conformance ({TARGET})")
    by_backend: dict[str, list[FileResult]] = {}
    for r in sorted(ordered, key=lambda r: BACKENDS.index(r.backend) if r.backend in BACKENDS else 99):
        by_backend.setdefault(r.backend, []).append(r)
    for backend, results in by_backend.items():
        terminalreporter.write_line(f"backend: {backend}")
        for line in format_table(results, max_failures_per_file=5).splitlines():
            terminalreporter.write_line(line)
        terminalreporter.write_line("")
    if os.environ.get("ALLOTMENT_CONFORMANCE_JSON"):
        path = Path(os.environ["ALLOTMENT_CONFORMANCE_JSON"])
        path.write_text(json.dumps([r.to_json() for r in ordered], indent=1))
        terminalreporter.write_line(f"conformance results written to {path}")
