"""Serve a WSGI application under gunicorn (threaded workers), as both services do."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from allotment.infra.exchange_log import wrap_from_environment
from allotment.infra.limits import RequestLimits

__all__ = ["ServeOptions", "gunicorn_settings", "serve_wsgi"]


@dataclass(frozen=True)
class ServeOptions:
    host: str
    port: int
    workers: int
    threads: int
    log_level: str
    proc_name: str
    limits: RequestLimits = field(default_factory=RequestLimits)


def gunicorn_settings(opts: ServeOptions) -> dict[str, Any]:
    return {
        "bind": f"{opts.host}:{opts.port}",
        "workers": opts.workers,
        "threads": opts.threads,
        "worker_class": "gthread",
        "graceful_timeout": 10,
        "timeout": 120,
        "keepalive": 2,
        "accesslog": None,  # the applications log every request themselves, with its request id
        "loglevel": opts.log_level,
        "proc_name": opts.proc_name,
        # Newer gunicorn opens a per-user control socket; several servers on one host must not share it.
        "control_socket_disable": True,
        # Longer than gunicorn's defaults (4094, 8190): a Nova query with many aggregates in member_of=in:
        # or many traits passes 4 KB. The body limit is the application's (it knows the error format).
        "limit_request_line": opts.limits.limit_request_line,
        "limit_request_field_size": opts.limits.limit_request_field_size,
    }


def _logger_class() -> type:
    from gunicorn.glogging import Logger

    class ThroughOurs(Logger):
        """gunicorn's own records (workers booting, bad request lines) go out as ours do: one format per log."""

        def setup(self, cfg: Any) -> None:
            super().setup(cfg)
            for log in (self.error_log, self.access_log):
                log.handlers.clear()
                log.propagate = True

    return ThroughOurs


def serve_wsgi(load: Callable[[], Any], opts: ServeOptions) -> None:
    """Run gunicorn until it is stopped; ``load`` runs in each worker after the fork and returns its app."""
    from gunicorn.app.base import BaseApplication

    from allotment.infra import metrics

    settings = {**gunicorn_settings(opts), "logger_class": _logger_class(), "child_exit": metrics.worker_exited}
    # Workers write their metric values to files here; /metrics in any worker adds them all up.
    directory, made = metrics.prepare_multiprocess(opts.proc_name)

    class _Server(BaseApplication):
        def load_config(self) -> None:
            for key, value in settings.items():
                self.cfg.set(key, value)

        def load(self) -> Any:
            # ALLOTMENT_RECORD_EXCHANGES=file.jsonl records every exchange (for the OpenAPI checks).
            return wrap_from_environment(load())

    try:
        _Server().run()
    finally:
        if made:
            metrics.remove_directory(directory)
