"""Prometheus metrics shared by both services: the exposition, and gunicorn's multiprocess mode.

Every metric of ours is labelled, so its values are created on first use (in a worker,
after the fork). Under gunicorn each worker writes its values to files in
``PROMETHEUS_MULTIPROC_DIR`` and ``/metrics``, served by any one worker, adds up all of
them (``prometheus_client.multiprocess``). Without that variable (tests, the direct client,
one process) the values live in the process and are read from its default registry.
Gauges computed at scrape time (capacity) are collectors passed to ``exposition``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest, values
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector

__all__ = ["CONTENT_TYPE", "LATENCY_BUCKETS", "exposition", "prepare_multiprocess", "remove_directory", "worker_exited"]

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_LATEST
# Seconds: placement answers in about a millisecond, a scheduling call over thousands of hosts in seconds.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class _ThisProcess(Collector):
    """The default registry's metrics, as one collector of a per-scrape registry."""

    def collect(self) -> Iterable[Metric]:
        return REGISTRY.collect()


def exposition(extra: Iterable[Collector] = ()) -> tuple[bytes, str]:
    """The text exposition of every worker's metrics (or this process's) plus ``extra`` collectors."""
    registry = CollectorRegistry(auto_describe=False)
    if os.environ.get(MULTIPROC_ENV):
        MultiProcessCollector(registry)
    else:
        registry.register(_ThisProcess())
    for collector in extra:
        registry.register(collector)
    return generate_latest(registry), CONTENT_TYPE


def prepare_multiprocess(proc_name: str) -> tuple[str, bool]:
    """Before gunicorn forks: a fresh directory for the workers' metric files; (it, made here so remove it after).

    The directory given in ``PROMETHEUS_MULTIPROC_DIR`` is emptied, as the library requires
    at start; without it a temporary one is made and named in the environment the workers inherit.
    """
    directory = os.environ.get(MULTIPROC_ENV)
    made = not directory
    if directory:
        os.makedirs(directory, exist_ok=True)
        for name in os.listdir(directory):
            if name.endswith(".db"):
                os.unlink(os.path.join(directory, name))
    else:
        directory = tempfile.mkdtemp(prefix=f"{proc_name}-metrics-")
        os.environ[MULTIPROC_ENV] = directory
    # The application modules (and prometheus_client with them) are imported in the master before
    # the fork; our metrics are all labelled, so switching the value class now still reaches them.
    values.ValueClass = values.get_value_class()
    return directory, made


def remove_directory(directory: str) -> None:
    shutil.rmtree(directory, ignore_errors=True)


def worker_exited(server: Any, worker: Any) -> None:
    """gunicorn's ``child_exit`` hook: a dead worker's live gauges stop counting."""
    mark_process_dead(worker.pid)
