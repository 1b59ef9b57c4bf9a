"""Run workloads against allotment and upstream Placement, one fresh server and database per run."""

from __future__ import annotations

import contextlib
import os
import resource
import subprocess
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from allotment.bench.databases import fresh_database
from allotment.bench.http import server_info
from allotment.bench.procstat import ProcessSampler, cpu_delta, cpu_seconds, descendants
from allotment.bench.servers import RunningServer, allotment_server, repo_root, upstream_server
from allotment.bench.workloads import Context, Params, Workload, for_target

__all__ = ["SERVERS", "Target", "git_revision", "run_benchmark", "run_once"]

SERVERS: dict[str, Callable[..., contextlib.AbstractContextManager[RunningServer]]] = {"allotment": allotment_server, "upstream": upstream_server}
LOG_TAIL = 6000


@dataclass(frozen=True)
class Target:
    """A server to measure: started fresh by name, or already running at ``url``."""

    name: str
    url: str | None = None


def git_revision() -> str | None:
    """The commit allotment's code is at, with ``-dirty`` when its files (not the benchmark's) differ from it.

    Other work may land while a long benchmark runs, and each run starts its server
    from the working tree, so every allotment run records the code it measured.
    """
    root = repo_root()
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"], capture_output=True,
                              text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--", "allotment", ":!allotment/bench"],
                               capture_output=True, text=True, timeout=30, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return head + ("-dirty" if dirty else "")


def _self_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def run_once(
    target: Target,
    workloads: list[tuple[Workload, bool]],
    params: Params,
    *,
    backend: str,
    workers: int,
    run_index: int = 0,
) -> dict[str, Any]:
    """One run: a fresh database and server (unless ``target.url``), then the workloads in order.

    Never raises for a server or workload failure: the record carries ``error``.
    """
    # The load average tells a reader how busy the machine was when the run began.
    record: dict[str, Any] = {"run": run_index, "workloads": {}, "rss": None, "error": None,
                              "loadavg_at_start": [round(x, 2) for x in os.getloadavg()]}
    if target.name == "allotment" and not target.url:
        record["git"] = git_revision()
    server: RunningServer | None = None
    with contextlib.ExitStack() as stack:
        try:
            if target.url:
                url, root, db_url = target.url.rstrip("/"), None, None
            else:
                db_url = stack.enter_context(fresh_database(backend))
                server = stack.enter_context(SERVERS[target.name](db_url, workers=workers))
                url, root = server.url, server.process.pid
        except Exception as exc:  # a server that does not start is a result, not a crash
            record["error"] = f"server did not start: {type(exc).__name__}: {exc}"
            return record
        record["url"] = url
        record["server"] = server_info(url)
        sampler = ProcessSampler(root).start() if root is not None else None
        ctx = Context(url=url, params=params, run_index=run_index, server_pid=root, db_url=db_url, workers=workers)
        try:
            for workload, measured in for_target(workloads, target.name):
                assert workload.run is not None
                cpu_before = cpu_seconds(descendants(root)) if root is not None else {}
                client_before = _self_cpu()
                result = workload.run(ctx)
                result.figures["server_cpu_s"] = (
                    cpu_delta(cpu_before, cpu_seconds(descendants(root))) if root is not None else None
                )
                result.figures["client_cpu_s"] = _self_cpu() - client_before
                record["workloads"][workload.name] = {
                    "measured": measured, "figures": result.figures, "details": result.details,
                }
        except Exception as exc:
            record["error"] = f"workload failed: {type(exc).__name__}: {exc}\n{traceback.format_exc(limit=5)}"
        finally:
            if sampler is not None:
                record["rss"] = sampler.stop()
        if server is not None:
            _note_server_trouble(record, server)
    return record


def _note_server_trouble(record: dict[str, Any], server: RunningServer) -> None:
    """When the run went wrong, keep the server's exit status and its log's first traceback and end.

    A server that exited during the run makes the run void: its figures measured
    connection errors, not the server.
    """
    if server.process.poll() is not None:
        record["server_exit"] = server.process.returncode
        record["error"] = record["error"] or f"server exited with code {server.process.returncode} during the run"
    failed = record["error"] or any(w["figures"].get("non_2xx") for w in record["workloads"].values())
    if not failed:
        return
    try:
        log = (server.workdir / "server.log").read_text(errors="replace")
    except OSError:
        return
    record["server_log_tail"] = log[-LOG_TAIL:]
    first = log.find("Traceback")
    if first >= 0:
        record["server_log_first_traceback"] = log[first : first + LOG_TAIL]


def run_benchmark(
    targets: list[Target],
    workloads: list[tuple[Workload, bool]],
    params: Params,
    *,
    backend: str,
    workers: int,
    repeat: int = 1,
    progress: Callable[[str], None] = lambda _msg: None,
) -> dict[str, list[dict[str, Any]]]:
    """Runs per target name. Repeats alternate between targets, so drift hits both alike."""
    runs: dict[str, list[dict[str, Any]]] = {t.name: [] for t in targets}
    for i in range(repeat):
        for target in targets:
            progress(f"run {i + 1}/{repeat}: {target.name}" + (f" at {target.url}" if target.url else ""))
            record = run_once(target, workloads, params, backend=backend, workers=workers, run_index=i)
            if "server_exit" in record:
                # A started server that died under us (upstream's gunicorn does, now and then, when a
                # worker fails to boot): note it and give the run one more go on a fresh server.
                progress(f"  {target.name}: {record['error']}; running it again")
                failed = record
                record = run_once(target, workloads, params, backend=backend, workers=workers, run_index=i)
                record["failed_attempts"] = [failed]
            runs[target.name].append(record)
            if record["error"]:
                progress(f"  {target.name}: {record['error'].splitlines()[0]}")
    return runs
