"""scripts/serve and scripts/test as the README runs them, with and without arguments.

The real scripts run in a copy of the repository whose ``.venv`` holds stand-ins for
``python`` and ``allotment`` that log their arguments: what the set-up would install and
what the script finally runs, without installing anything.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

_STAND_IN = """#!/bin/sh
echo "$(basename "$0") $*" >> "$(dirname "$0")/../calls.log"
"""


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    """The scripts and pyproject.toml in a fresh directory, with a stand-in .venv."""
    shutil.copytree(REPO / "scripts", tmp_path / "scripts")
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    bin_dir = tmp_path / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    for name in ("python", "allotment"):
        (bin_dir / name).write_text(_STAND_IN)
        (bin_dir / name).chmod(0o755)
    return tmp_path


def _run(clone: Path, script: str, *args: str) -> list[str]:
    """Run ``scripts/SCRIPT ARGS`` in the clone; the calls its stand-ins saw, one line each."""
    done = subprocess.run([str(clone / "scripts" / script), *args], cwd=clone, capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    log = clone / ".venv" / "calls.log"
    calls = log.read_text().splitlines()
    log.unlink()
    return calls


_PIP = "python -m pip install --quiet --disable-pip-version-check"


@pytest.mark.parametrize("args", [(), ("--port", "9000", "--workers", "4")])
def test_serve_installs_the_project_and_passes_its_arguments_on(clone: Path, args: tuple[str, ...]) -> None:
    calls = _run(clone, "serve", *args)
    assert calls == [f"{_PIP} --upgrade pip", f"{_PIP} -e .", " ".join(["allotment", "serve", *args])]
    # Installed once: the next run goes straight to the server.
    assert _run(clone, "serve", *args) == [" ".join(["allotment", "serve", *args])]


@pytest.mark.parametrize("args", [(), ("-x", "-q", "tests/cli")])
def test_test_installs_the_test_extras_and_passes_its_arguments_to_pytest(clone: Path, args: tuple[str, ...]) -> None:
    calls = _run(clone, "test", *args)
    pytest = ["python", "-m", "pytest", "-n", "auto", "--dist", "loadfile", *args]
    assert calls == [f"{_PIP} --upgrade pip", f"{_PIP} -e .[test]", " ".join(pytest)]


def test_test_runs_in_one_process_when_asked(clone: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALLOTMENT_TEST_PROCESSES", "0")
    calls = _run(clone, "test", "-q")
    assert calls[-1] == "python -m pytest -n 0 --dist loadfile -q"
