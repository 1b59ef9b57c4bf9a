"""The scheduler service built from its configuration: config file, placement client, registry, plugins, WSGI app.

    config = load_service_config("scheduler.toml", db_url=None, placement_url=None, placement_db=None)
    prepare(config)                    # once, before workers fork: schemas, plugins checked
    with ExitStack() as stack:
        app = build_app(config, stack)  # per worker: its own connections, closed with ``stack``
"""

from __future__ import annotations

import contextlib
import dataclasses
from pathlib import Path
from typing import Any

from allotment.client import PlacementClient, connect, direct
from allotment.client.keystone import KeystonePassword
from allotment.infra.keystone import WSGIApp, keystone_auth
from allotment.scheduler.api.app import create_app
from allotment.scheduler.config import SchedulerConfig, load_scheduler_config
from allotment.scheduler.plugins import load_filters, load_weighers
from allotment.scheduler.registry import Registry
from allotment.scheduler.service import Scheduler

__all__ = ["DEFAULT_PLACEMENT_URL", "build_app", "load_service_config", "open_placement", "open_registry", "prepare"]

DEFAULT_PLACEMENT_URL = "http://127.0.0.1:8778"


def load_service_config(path: str | Path | None, *, db_url: str | None = None, placement_url: str | None = None,
                        placement_db: str | None = None) -> SchedulerConfig:
    """The ``[scheduler]`` table of ``path``, where given arguments win; placement over HTTP by default.

    Give at most one of ``placement_url`` and ``placement_db``; when neither is given the
    file's is used, and a file naming both is an error (ValueError, as for unknown keys).
    """
    if placement_url and placement_db:
        raise ValueError("give placement_url or placement_db, not both")
    config = load_scheduler_config(path, db_url=db_url)
    if not placement_url and not placement_db:
        placement_url, placement_db = config.placement_url, config.placement_db
        if placement_url and placement_db:
            raise ValueError("the configuration sets both placement_url and placement_db; keep one")
    if not placement_db:
        placement_url = placement_url or DEFAULT_PLACEMENT_URL
    return dataclasses.replace(config, placement_url=placement_url if not placement_db else None,
                               placement_db=placement_db)


def open_registry(config: SchedulerConfig, *, migrate: bool = True) -> Registry:
    return Registry.open(config.db_url, service_down_time=config.service_down_time, migrate=migrate)


def open_placement(config: SchedulerConfig, stack: contextlib.ExitStack) -> PlacementClient:
    """The placement client ``config`` names (in-process on ``placement_db``, or HTTP), closed with ``stack``."""
    if config.placement_db:
        return stack.enter_context(direct(config.placement_db))
    auth = KeystonePassword.from_options(config.keystone_authtoken) if config.placement_auth == "keystone" else None
    return stack.enter_context(connect(config.placement_url or DEFAULT_PLACEMENT_URL, auth=auth))


def prepare(config: SchedulerConfig) -> None:
    """What the workers share, done once before they fork: plugins checked, schemas created or upgraded.

    Raises ValueError for an unknown filter or weigher; the database's own errors otherwise.
    """
    load_filters(config)
    load_weighers(config)
    open_registry(config).close()
    if config.placement_db:
        with contextlib.ExitStack() as stack:
            open_placement(config, stack)  # opening the direct client creates or upgrades placement's schema


def build_app(config: SchedulerConfig, stack: contextlib.ExitStack, **scheduler_options: Any) -> WSGIApp:
    """One worker's application: its own registry engine and placement client, closed with ``stack``.

    With a placement client the app also keeps placement's aggregates and the disabled trait
    in step with the registry's host aggregates and host status. With ``auth_strategy = "keystone"``
    the app sits behind Keystone's auth_token middleware and applies ``api.auth``'s rules.
    """
    registry = open_registry(config, migrate=False)
    stack.callback(registry.close)
    placement = open_placement(config, stack)
    keystone = config.auth_strategy == "keystone"
    app = create_app(registry, scheduler=Scheduler(placement, registry, config, **scheduler_options),
                     placement=placement, max_request_body_size=config.limits.max_request_body_size,
                     keystone_policy=keystone)
    public = ("/", "", "/metrics", "/healthz", "/readyz")  # scrapers and load balancers carry no token
    return keystone_auth(app, config.keystone_authtoken, public_paths=public) if keystone else app
