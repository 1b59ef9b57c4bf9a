"""Run upstream Placement's gabbit files against a live server, one file at a time.

For every file: a fresh database and a freshly started server (allotment or
upstream Placement 16.0.0), configured as the file's fixture implies (policy
mode, CORS); the fixture's data is written through the HTTP API
(:mod:`tests.conformance.fixtures`); then the file runs under gabbi in the
upstream virtualenv (:mod:`tests.conformance.gabbi_driver`), which reports
one outcome per test.

Command line::

    python -m tests.conformance.runner --target upstream|allotment \\
        [--backend sqlite|postgresql|mysql ...] [-j N] [FILES or globs ...]

FILES are gabbit file names (``aggregate.yaml`` or ``aggregate``), globs over
those names (``'resource-provider*'``), or paths. Without FILES all 79 run.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import dataclasses
import fnmatch
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from allotment.bench.databases import BACKENDS, fresh_database
from allotment.bench.servers import RunningServer, allotment_server, ensure_upstream_venv, upstream_server

from .fixtures import ServerSettings, fixture_for

__all__ = [
    "KNOWN_FAILURES",
    "FileResult",
    "category",
    "format_table",
    "gabbits_dir",
    "resolve_files",
    "run_file",
    "run_many",
]

TARGETS = ("allotment", "upstream")

DRIVER = Path(__file__).with_name("gabbi_driver.py")

# Tests that cannot pass over real HTTP, by (file, test name). Nothing broader.
KNOWN_FAILURES: dict[tuple[str, str], str] = {
    ("basic-http.yaml", "bad content length not int"): (
        "sends 'Content-Length: hi mom'; a standards-compliant HTTP server rejects the request "
        "before the application sees it, so the expected error body cannot be produced over real HTTP"
    ),
}

# Files that exercise policy, RBAC and CORS configurations rather than the core API.
_POLICY_PATTERNS = ("*-policy.yaml", "*-legacy-rbac.yaml", "*-secure-rbac.yaml", "cors.yaml", "non-cors.yaml")

# Environment variables not passed to gabbi: proxies would divert requests to 127.0.0.1.
_DROP_ENV = ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")

MESSAGE_EXCERPT = 1200


def category(file_name: str) -> str:
    """``policy`` for policy/RBAC/CORS files, else ``core``."""
    return "policy" if any(fnmatch.fnmatch(file_name, p) for p in _POLICY_PATTERNS) else "core"


def upstream_python() -> Path:
    return ensure_upstream_venv() / "bin" / "python"


def gabbits_dir() -> Path:
    """The gabbit directory of the upstream package in the upstream virtualenv."""
    venv = ensure_upstream_venv()
    found = sorted(venv.glob("lib/python3*/site-packages/placement/tests/functional/gabbits"))
    if not found:
        raise FileNotFoundError(f"no placement gabbits directory under {venv}")
    return found[-1]


def all_gabbits() -> list[Path]:
    return sorted(gabbits_dir().glob("*.yaml"))


def resolve_files(specs: Iterable[str]) -> list[Path]:
    """Turn names, globs and paths into gabbit file paths (sorted, unique)."""
    specs = list(specs)
    available = all_gabbits()
    if not specs:
        return available
    chosen: dict[str, Path] = {}
    for spec in specs:
        as_path = Path(spec)
        if as_path.suffix == ".yaml" and as_path.is_file():
            chosen[str(as_path.resolve())] = as_path.resolve()
            continue
        pattern = Path(spec).name
        patterns = [pattern] if pattern.endswith((".yaml", "*")) else [pattern, pattern + ".yaml"]
        if pattern.endswith("*"):
            patterns.append(pattern + ".yaml")
        matched = [p for p in available if any(fnmatch.fnmatch(p.name, pat) for pat in patterns)]
        if not matched:
            raise FileNotFoundError(f"no gabbit file matches {spec!r}")
        for p in matched:
            chosen[str(p)] = p
    return sorted(chosen.values(), key=lambda p: p.name)


# --------------------------------------------------------------------------
# Results


@dataclass
class FileResult:
    """Outcome of one gabbit file against one target/backend."""

    name: str
    passed: int
    failed: int
    skipped: int
    failures: list[tuple[str, str]] = field(default_factory=list)
    target: str = ""
    backend: str = ""
    total: int = 0
    duration: float = 0.0
    error: str | None = None  # harness-level problem: server, fixture or driver
    outcomes: list[dict[str, Any]] = field(default_factory=list)

    @property
    def category(self) -> str:
        return category(self.name)

    @property
    def known_failures(self) -> list[tuple[str, str]]:
        return [f for f in self.failures if (self.name, f[0]) in KNOWN_FAILURES]

    @property
    def unexpected_failures(self) -> list[tuple[str, str]]:
        return [f for f in self.failures if (self.name, f[0]) not in KNOWN_FAILURES]

    @property
    def ok(self) -> bool:
        """No failures except documented known ones, and every test ran."""
        return self.error is None and not self.unexpected_failures and self.passed + self.skipped + len(
            self.known_failures) == self.total

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FileResult:
        data = dict(data)
        data["failures"] = [tuple(f) for f in data.get("failures", [])]
        return cls(**data)


def _excerpt(message: str, limit: int = MESSAGE_EXCERPT) -> str:
    """Head and tail of a long message (the tail of a traceback matters most)."""
    message = message.strip()
    if len(message) <= limit:
        return message
    head = limit // 4
    return message[:head] + "\n[...]\n" + message[-(limit - head - 7):]


def _result_from_driver(name: str, payload: dict[str, Any], total: int) -> FileResult:
    tests = payload.get("tests") or []
    passed = sum(1 for t in tests if t["outcome"] == "pass")
    skipped = sum(1 for t in tests if t["outcome"] in ("skip", "xfail"))
    failures = [(t["name"], _excerpt(str(t.get("message", "")))) for t in tests
                if t["outcome"] in ("fail", "error", "xpass")]
    error = payload.get("error")
    if error and not tests:
        failures = [("(file)", _excerpt(str(error)))]
    return FileResult(name=name, passed=passed, failed=max(len(failures), total - passed - skipped),
                      skipped=skipped, failures=failures, total=total, error=_excerpt(error) if error else None,
                      outcomes=[{"name": t["name"], "outcome": t["outcome"]} for t in tests])


# --------------------------------------------------------------------------
# Running one file


@contextlib.contextmanager
def _server(target: str, db_url: str, settings: ServerSettings, workdir: Path, workers: int,
            log_copy: Path | None) -> Iterator[RunningServer]:
    if target == "upstream":
        cm = upstream_server(db_url, workers=workers, extra_conf=settings.upstream_ini(workdir))
    elif target == "allotment":
        cm = allotment_server(db_url, workers=workers, config_text=settings.allotment_toml(workdir))
    else:
        raise ValueError(f"unknown target {target!r}; expected one of {TARGETS}")
    with cm as server:
        try:
            yield server
        finally:
            if log_copy is not None:
                with contextlib.suppress(OSError):
                    log_copy.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(server.workdir / "server.log", log_copy)


def _driver_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _DROP_ENV}
    env.update(extra)
    env.setdefault("NO_PROXY", "127.0.0.1,localhost")
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def _run_driver(path: Path, url: str, env: dict[str, str], workdir: Path, timeout: float) -> dict[str, Any]:
    out = workdir / "gabbi-result.json"
    proc = subprocess.run(
        [str(upstream_python()), str(DRIVER), "--url", url, "--out", str(out), str(path)],
        env=_driver_env(env), capture_output=True, text=True, timeout=timeout, cwd=workdir, check=False,
    )
    if not out.exists():
        raise RuntimeError(f"gabbi driver exited with {proc.returncode} without a result:\n{proc.stderr[-3000:]}")
    return json.loads(out.read_text())


def run_file(
    path: str | Path,
    target: str = "allotment",
    backend: str = "sqlite",
    *,
    workers: int = 1,
    timeout: float = 600.0,
    log_dir: str | Path | None = None,
) -> FileResult:
    """Run one gabbit file on a fresh database and a fresh server.

    Never raises for problems with the server under test: a server that does
    not start, a refused fixture write or a crashed driver yields a result
    whose ``error`` says what happened and whose tests all count as failed.
    """
    path = resolve_files([str(path)])[0]
    name = path.name
    started = time.monotonic()
    suite = yaml.safe_load(path.read_text(encoding="utf-8"))
    total = len(suite.get("tests") or [])
    log_copy = Path(log_dir) / f"{target}-{backend}-{path.stem}.log" if log_dir else None
    try:
        fixture = fixture_for(suite.get("fixtures"))
        with tempfile.TemporaryDirectory(prefix="conformance-") as tmp:
            workdir = Path(tmp)
            with fresh_database(backend) as db_url, \
                    _server(target, db_url, fixture.server, workdir, workers, log_copy) as server:
                try:
                    env = fixture.setup(server.url)
                except Exception as exc:
                    raise RuntimeError(f"fixture {type(fixture).__name__} could not be created: {exc}") from exc
                payload = _run_driver(path, server.url, env, workdir, timeout)
        result = _result_from_driver(name, payload, total)
    except Exception as exc:  # noqa: BLE001 - harness-level failure: report, don't raise
        message = f"{type(exc).__name__}: {exc}"
        result = FileResult(name=name, passed=0, failed=total, skipped=0,
                            failures=[("(harness)", _excerpt(message, 3000))], total=total,
                            error=_excerpt(message, 3000))
    result.target = target
    result.backend = backend
    result.duration = round(time.monotonic() - started, 2)
    return result


def run_many(
    files: Sequence[Path],
    target: str = "allotment",
    backends: Sequence[str] = ("sqlite",),
    *,
    jobs: int = 2,
    workers: int = 1,
    log_dir: str | Path | None = None,
    on_result: Callable[[FileResult], None] | None = None,
    pairs: Sequence[tuple[str, Path]] | None = None,
) -> list[FileResult]:
    """Run every (file, backend) pair, ``jobs`` at a time, file-major; results in that order.

    ``pairs`` ((backend, file) tuples) replaces the full ``files`` x ``backends`` product.
    """
    ensure_upstream_venv()  # once, before the threads start
    if pairs is None:
        pairs = [(backend, f) for f in files for backend in backends]
    results: dict[tuple[str, str], FileResult] = {}
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="gabbit")
    try:
        futures = {
            pool.submit(run_file, f, target, backend, workers=workers, log_dir=log_dir): (backend, f.name)
            for backend, f in pairs
        }
        for fut in concurrent.futures.as_completed(futures):
            res = fut.result()
            results[futures[fut]] = res
            if on_result is not None:
                on_result(res)
    finally:
        # On an interrupt, start nothing new; files already running finish and
        # stop their servers (a few seconds) before we return.
        pool.shutdown(wait=True, cancel_futures=True)
    return [results[(backend, f.name)] for backend, f in pairs]


# --------------------------------------------------------------------------
# Reporting


def _totals(results: Iterable[FileResult]) -> tuple[int, int, int, int, int]:
    rs = list(results)
    return (
        sum(r.total for r in rs),
        sum(r.passed for r in rs),
        sum(r.failed for r in rs),
        sum(r.skipped for r in rs),
        sum(len(r.known_failures) for r in rs),
    )


def format_table(results: Sequence[FileResult], *, failures: bool = True, max_failures_per_file: int = 10) -> str:
    """A per-file table, totals (all / core / policy-RBAC-CORS) and failing tests."""
    if not results:
        return "no conformance results\n"
    show_backend = len({r.backend for r in results}) > 1
    width = max(max(len(r.name) for r in results) + (13 if show_backend else 0), len("policy/RBAC/CORS"))
    lines = [f"{'file':<{width}} {'tests':>5} {'pass':>5} {'fail':>5} {'skip':>5} {'known':>5} {'secs':>6}  note"]
    lines.append("-" * len(lines[0]))
    for r in results:
        label = f"{r.name} [{r.backend}]" if show_backend else r.name
        note = "HARNESS ERROR" if r.error else ("" if r.ok else "FAIL")
        lines.append(f"{label:<{width}} {r.total:>5} {r.passed:>5} {r.failed:>5} {r.skipped:>5} "
                     f"{len(r.known_failures):>5} {r.duration:>6.1f}  {note}")
    lines.append("-" * len(lines[0]))
    groups = [("core", [r for r in results if r.category == "core"]),
              ("policy/RBAC/CORS", [r for r in results if r.category == "policy"]),
              ("all", list(results))]
    for label, rs in groups:
        total, passed, failed, skipped, known = _totals(rs)
        lines.append(f"{label:<{width}} {total:>5} {passed:>5} {failed:>5} {skipped:>5} {known:>5}"
                     f"   files: {len(rs)}, fully passing: {sum(1 for r in rs if r.failed == 0 and not r.error)}")
    if failures:
        failing = [r for r in results if r.failures]
        if failing:
            lines.append("")
            lines.append("failing tests:")
        for r in failing:
            label = f"{r.name} [{r.backend}]" if show_backend else r.name
            lines.append(f"  {label}:")
            for test, message in r.failures[:max_failures_per_file]:
                known = " (known)" if (r.name, test) in KNOWN_FAILURES else ""
                first = message.strip().splitlines()[0][:200] if message.strip() else ""
                lines.append(f"    - {test}{known}: {first}")
            if len(r.failures) > max_failures_per_file:
                lines.append(f"    ... and {len(r.failures) - max_failures_per_file} more")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------
# Command line


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.conformance.runner",
        description="Run upstream Placement's gabbit files against a live server, one fresh server per file.",
    )
    parser.add_argument("files", nargs="*", help="gabbit names, globs or paths (default: all)")
    parser.add_argument("--target", choices=TARGETS, default="allotment")
    parser.add_argument("--backend", choices=BACKENDS, action="append",
                        help="database backend; repeat for several (default: sqlite)")
    parser.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 2,
                        help="files run concurrently (default: number of CPUs)")
    parser.add_argument("--workers", type=int, default=1, help="server worker processes (default: 1)")
    parser.add_argument("--logs", metavar="DIR", help="keep each server's log in DIR")
    parser.add_argument("--json", metavar="FILE", help="write all results (with per-test outcomes) to FILE")
    parser.add_argument("--jsonl", action="store_true",
                        help="machine mode: print one JSON result per line on stdout as files finish, no table")
    parser.add_argument("--pair", action="append", metavar="BACKEND:FILE",
                        help="run exactly these (backend, file) pairs instead of FILES x --backend; repeatable")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress lines, no failure list")
    parser.add_argument("--max-failures", type=int, default=10, help="failing tests listed per file (default 10)")
    args = parser.parse_args(argv)
    # SIGTERM (e.g. from pytest tearing down) unwinds like Ctrl-C, so servers get stopped.
    signal.signal(signal.SIGTERM, _terminate)

    backends = args.backend or ["sqlite"]
    pairs: list[tuple[str, Path]] | None = None
    if args.pair:
        pairs = []
        for spec in args.pair:
            backend, _, name = spec.partition(":")
            if backend not in BACKENDS or not name:
                parser.error(f"--pair wants BACKEND:FILE with BACKEND one of {BACKENDS}, got {spec!r}")
            pairs += [(backend, f) for f in resolve_files([name])]
        files = sorted({f for _, f in pairs}, key=lambda p: p.name)
        backends = list(dict.fromkeys(b for b, _ in pairs))
    else:
        files = resolve_files(args.files)
    n = len(pairs) if pairs is not None else len(files) * len(backends)
    done = 0
    started = time.monotonic()

    def progress(res: FileResult) -> None:
        nonlocal done
        done += 1
        if args.jsonl:
            print(json.dumps(res.to_json()), flush=True)
            return
        if not args.quiet:
            status = "ERROR" if res.error else ("ok" if res.ok else "FAIL")
            print(f"[{done:>3}/{n}] {res.backend:<10} {res.name:<45} {res.passed:>3}/{res.total:<3} "
                  f"{res.duration:>5.1f}s {status}", file=sys.stderr, flush=True)

    results = run_many(files, args.target, backends, jobs=args.jobs, workers=args.workers,
                       log_dir=args.logs, on_result=progress, pairs=pairs)
    elapsed = time.monotonic() - started
    if args.json:
        Path(args.json).write_text(json.dumps([r.to_json() for r in results], indent=1))
    if not args.jsonl:
        print(f"target: {args.target}  backends: {', '.join(backends)}  jobs: {args.jobs}")
        print(format_table(results, failures=not args.quiet, max_failures_per_file=args.max_failures), end="")
        print(f"wall time: {elapsed:.1f}s")
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
