"""The virtualenv holding the real OpenStack clients, built on first use.

osc-placement, python-openstackclient and openstacksdk pin their own dependency trees
(oslo.*, keystoneauth1, cliff, ...), none of which allotment needs, so they live in
``.cache/osc`` under the repository root (``ALLOTMENT_OSC_VENV`` overrides), next to the
upstream-placement virtualenv, and are never part of the project. A stamp file records
what was installed, so later runs reuse the virtualenv without touching the network.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from allotment.bench.servers import ensure_venv, repo_root

# The clients are pinned so the functional-test count stays comparable between runs;
# the test tools are what osc-placement's functional tests import.
OSC_REQUIREMENTS = (
    "osc-placement==4.9.1",
    "python-openstackclient==10.5.0",
    "openstacksdk==4.22.0",
    "pytest",
    "fixtures",
    "oslotest",
    "ddt",
)


def osc_venv_path() -> Path:
    return Path(os.environ.get("ALLOTMENT_OSC_VENV", repo_root() / ".cache" / "osc"))


def ensure_osc_venv(path: Path | None = None) -> Path:
    """Create (once) the virtualenv with the OpenStack clients; return it. Raises on failure."""
    return ensure_venv(path or osc_venv_path(), OSC_REQUIREMENTS, quiet=True)


def osc_venv_or_skip() -> Path:
    """The clients' virtualenv; skip when it cannot be built (no index), but fail under CI."""
    try:
        return ensure_osc_venv()
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        output = getattr(exc, "stderr", None) or getattr(exc, "output", None) or ""
        lines = output.strip().splitlines() if isinstance(output, str) else []
        tail = [line for line in lines if line.startswith("ERROR")][-2:] or lines[-3:]
        reason = f"cannot build the OpenStack clients' virtualenv at {osc_venv_path()}: {exc} {' | '.join(tail)}"
        if os.environ.get("CI"):
            pytest.fail(f"CI requires the OpenStack clients: {reason}")
        pytest.skip(reason)


def client_env(venv: Path, **extra: str) -> dict[str, str]:
    """Environment for running the clients: their venv first on PATH, no stray OS_* settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_") and k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra)
    return env
