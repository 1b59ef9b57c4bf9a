"""Upstream Placement's own gabbit files, run over HTTP against allotment.

One test per (gabbit file, backend). Files matching ``MUST_PASS`` must pass
completely (apart from the documented ``KNOWN_FAILURES`` of the runner);
the others only record their counts (reported as xfail while they still have
failures) until the API they exercise lands, at which point their glob moves
into ``MUST_PASS``.

The per-file table is printed at the end of the session. To run the same
files by hand, with more detail::

    python -m tests.conformance.runner --target allotment [-j N] [FILES...]
"""

from __future__ import annotations

import fnmatch
import os

import pytest

from tests.conformance.conftest import TARGET
from tests.conformance.runner import KNOWN_FAILURES, FileResult, all_gabbits

# Globs (over the file name without ``.yaml``) of the files that must pass completely.
MUST_PASS: list[str] = [
    # Provider side (issue 2).
    "resource-provider*",
    "inventory*",
    "resource-classes*",
    "traits*",
    "aggregate*",
    "usage*",
    "microversion*",
    "basic-http",
    "unicode",
    "bug-*",
    "confirm-auth",
    "non-cors",
    "cors",
    # Consumers, allocations and the reshaper (issue 3).
    "allocations*",
    "allocation-bad-class",
    "consumer-types*",
    "ensure-consumer",
    "reshaper*",
    "resource-class-in-use",
    "with-allocations",
    # Allocation candidates (issue 4).
    "allocation-candidates*",
    "granular*",
    "same-subtree*",
    "shared-resources",
]

# SQLite always; PostgreSQL when a server is reachable (required when CI is set).
BACKENDS = ["sqlite", "postgresql"]

GABBITS = [p.name for p in all_gabbits()]


def must_pass(file_name: str) -> bool:
    stem = file_name.removesuffix(".yaml")
    return any(fnmatch.fnmatch(stem, pattern) for pattern in MUST_PASS)


def _describe(result: FileResult, limit: int = 25) -> str:
    summary = (
        f"{result.name} [{result.backend}]: {result.passed}/{result.total} passed, "
        f"{len(result.unexpected_failures)} unexpected failure(s)"
    )
    lines = [summary]
    if result.error:
        lines.append(f"harness error: {result.error}")
    for test, message in result.unexpected_failures[:limit]:
        lines.append(f"--- {test}\n{message}")
    if len(result.unexpected_failures) > limit:
        lines.append(f"... and {len(result.unexpected_failures) - limit} more")
    return "\n".join(lines)


@pytest.mark.conformance
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("gabbit", GABBITS)
def test_gabbit(gabbit: str, backend: str, conformance_session, record_property) -> None:  # type: ignore[no-untyped-def]
    ok, reason = conformance_session.available(backend)
    if not ok:
        if os.environ.get("CI"):
            pytest.fail(f"backend {backend} is required when CI is set: {reason}")
        pytest.skip(reason)

    result = conformance_session.result(gabbit, backend)
    record_property("tests", result.total)
    record_property("passed", result.passed)
    record_property("failed", result.failed)
    record_property("skipped", result.skipped)
    record_property("known_failures", len(result.known_failures))

    if must_pass(gabbit):
        if not result.ok:
            pytest.fail(_describe(result), pytrace=False)
        return
    if not result.ok:
        names = ", ".join(repr(t) for t, _ in result.unexpected_failures[:5])
        more = ", ..." if len(result.unexpected_failures) > 5 else ""
        what = "harness error" if result.error else f"{len(result.unexpected_failures)} of {result.total} tests fail"
        pytest.xfail(f"{what} ({gabbit} is not in MUST_PASS yet): {names}{more}")


def test_known_failures_name_real_tests() -> None:
    """Every documented known failure refers to an existing test."""
    import yaml

    from tests.conformance.runner import gabbits_dir

    for file_name, test_name in KNOWN_FAILURES:
        data = yaml.safe_load((gabbits_dir() / file_name).read_text(encoding="utf-8"))
        assert test_name in [t["name"] for t in data["tests"]], (file_name, test_name)


def test_must_pass_globs_match_files() -> None:
    """A typo in MUST_PASS would silently require nothing."""
    for pattern in MUST_PASS:
        assert any(fnmatch.fnmatch(g.removesuffix(".yaml"), pattern) for g in GABBITS), pattern


@pytest.mark.conformance
def test_every_answer_matches_the_openapi_document(conformance_session, record_property) -> None:  # type: ignore[no-untyped-def]
    """What allotment answered while the selected files ran, checked against docs/openapi/placement.json."""
    import json

    from tests.openapi.exchanges import PLACEMENT_DOC, check_records, read_records

    if TARGET != "allotment":
        pytest.skip("the document describes allotment")
    results = conformance_session.all_results()
    if not results or not conformance_session.exchanges.exists():
        pytest.skip("no gabbit file ran in this session")
    report = check_records(json.loads(PLACEMENT_DOC.read_text()), read_records(conformance_session.exchanges))
    record_property("exchanges_checked", report.checked)
    assert report.violations == [], "\n".join(report.violations[:50])
    assert report.checked > 0
