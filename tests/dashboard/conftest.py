"""The simulator's results file, made once per session (a few seconds of simulation)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.dashboard.simulated import write_results


@pytest.fixture(scope="session")
def simulation_results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("simulation") / "simulation.json"
    write_results(path)
    return path
