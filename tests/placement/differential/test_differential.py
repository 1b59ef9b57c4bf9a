"""A few seeds of the differential tester in the test suite (about 60-90 s on 2 busy cores).

Fails with the grouped report when a root-cause difference is not explained by the
allow-list (``allowlist.ALLOWED``: deliberate, each naming its README reason) or by
``allowlist.PENDING`` (fixed on another branch, not merged yet).
"""

from __future__ import annotations

import pytest

from .allowlist import explain
from .runner import format_report, run_seed, servers

SEEDS = (0, 1, 2)
REQUESTS = 250

pytestmark = pytest.mark.slow


def test_no_unexplained_difference_from_upstream() -> None:
    results = []
    for seed in SEEDS:
        with servers("sqlite", "legacy") as (up, al):
            results.append(run_seed(seed, REQUESTS, up.url, al.url))
    unexplained = [d for r in results for d in r.differences if not d.knock_on and explain(d) is None]
    assert not unexplained, format_report(results, explain=explain)
