"""Placement service configuration, read from a TOML file and command-line overrides.

Example file (every key optional)::

    [database]
    url = "sqlite:///./allotment.sqlite"

    [api]
    max_request_body_size = 4194304  # bytes; larger bodies get 413 before they are read (0: no limit)
    limit_request_line = 8190        # bytes in the request line (gunicorn's ceiling; 0: no limit)
    limit_request_field_size = 16384 # bytes in one header line (0: no limit)

    [auth]
    strategy = "noauth2"           # or "keystone"; upstream's spelling [api] auth_strategy also works

    [keystone_authtoken]           # with strategy "keystone": keystonemiddleware's options, as upstream's
    www_authenticate_uri = "http://keystone.example.com/identity/v3"
    auth_url = "http://keystone.example.com/identity/v3"
    auth_type = "password"
    username = "placement"
    password = "secret"
    project_name = "service"
    user_domain_name = "Default"
    project_domain_name = "Default"

    [policy]
    enforce_new_defaults = true    # upstream's default; false: the legacy rules
    enforce_scope = true
    file = "policy.yaml"           # rule overrides, oslo.policy file format (YAML or JSON)

    [cors]
    allowed_origin = ["http://valid.example.com"]
    allow_headers = ["openstack-api-version"]

    [placement]
    incomplete_consumer_project_id = "00000000-0000-0000-0000-000000000000"
    incomplete_consumer_user_id = "00000000-0000-0000-0000-000000000000"
    refuse_inventory_below_usage = false  # true: 409 when an inventory would shrink below its usage
    max_allocation_candidates = -1
    allocation_candidates_generation_strategy = "depth-first"
    candidates_answer_cap = 100000     # most candidates one answer holds (0: no cap); see the README
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from allotment.infra.limits import RequestLimits

__all__ = ["AUTH_STRATEGIES", "DEFAULT_DB_URL", "MISSING_CONSUMER_ID", "Config", "load_config"]

DEFAULT_DB_URL = "sqlite:///./allotment.sqlite"
MISSING_CONSUMER_ID = "00000000-0000-0000-0000-000000000000"
AUTH_STRATEGIES = ("noauth2", "keystone")


@dataclass
class Config:
    db_url: str = DEFAULT_DB_URL
    auth_strategy: str = "noauth2"
    # The [keystone_authtoken] table, handed to keystonemiddleware's auth_token unchanged.
    keystone_authtoken: dict[str, object] = field(default_factory=dict)
    enforce_new_defaults: bool = True
    enforce_scope: bool = True
    policy_file: str | None = None
    cors_allowed_origin: list[str] = field(default_factory=list)
    cors_allow_headers: list[str] = field(default_factory=list)
    incomplete_consumer_project_id: str = MISSING_CONSUMER_ID
    incomplete_consumer_user_id: str = MISSING_CONSUMER_ID
    # Upstream lets an inventory shrink below what is allocated (the provider is then
    # over-committed until usage drops; its test files require this). Set to refuse
    # such changes with 409 placement.inventory.inuse instead.
    refuse_inventory_below_usage: bool = False
    max_allocation_candidates: int = -1
    allocation_candidates_generation_strategy: str = "depth-first"
    # A request without ``limit`` whose candidates multiply (identical devices in many groups) stops here,
    # with a Warning header, instead of holding millions of candidates in memory. 0: no cap.
    candidates_answer_cap: int = 100_000
    limits: RequestLimits = field(default_factory=RequestLimits)


def _as_list(value: object) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, Iterable):
        raise TypeError(f"expected a list or a comma-separated string, got {value!r}")
    return [str(v) for v in value]


def _auth_strategy(data: dict[str, dict[str, object]]) -> str:
    """``[auth] strategy``, or upstream's ``[api] auth_strategy``; both given must agree."""
    given = {str(v) for v in (data.get("auth", {}).get("strategy"), data.get("api", {}).get("auth_strategy"))
             if v is not None}
    if len(given) > 1:
        raise ValueError(f"[auth] strategy and [api] auth_strategy disagree: {sorted(given)}")
    strategy = given.pop() if given else "noauth2"
    if strategy not in AUTH_STRATEGIES:
        raise ValueError(f"unsupported auth strategy {strategy!r}: use one of {', '.join(AUTH_STRATEGIES)}")
    return strategy


def load_config(path: str | Path | None = None, *, db_url: str | None = None) -> Config:
    """Build a Config from an optional TOML file; ``db_url`` overrides the file."""
    data: dict[str, dict[str, object]] = {}
    if path is not None:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    db = data.get("database", {})
    pol = data.get("policy", {})
    cors = data.get("cors", {})
    plc = data.get("placement", {})
    conf = Config(
        db_url=str(db_url or db.get("url") or DEFAULT_DB_URL),
        auth_strategy=_auth_strategy(data),
        keystone_authtoken=dict(data.get("keystone_authtoken", {})),
        enforce_new_defaults=bool(pol.get("enforce_new_defaults", True)),
        enforce_scope=bool(pol.get("enforce_scope", True)),
        policy_file=str(pol["file"]) if pol.get("file") else None,
        cors_allowed_origin=_as_list(cors.get("allowed_origin")),
        cors_allow_headers=_as_list(cors.get("allow_headers")),
        incomplete_consumer_project_id=str(plc.get("incomplete_consumer_project_id", MISSING_CONSUMER_ID)),
        incomplete_consumer_user_id=str(plc.get("incomplete_consumer_user_id", MISSING_CONSUMER_ID)),
        refuse_inventory_below_usage=bool(plc.get("refuse_inventory_below_usage", False)),
        max_allocation_candidates=int(plc.get("max_allocation_candidates", -1)),  # type: ignore[call-overload]
        allocation_candidates_generation_strategy=str(
            plc.get("allocation_candidates_generation_strategy", "depth-first")
        ),
        candidates_answer_cap=int(plc.get("candidates_answer_cap", 100_000)),  # type: ignore[call-overload]
    )
    if conf.auth_strategy == "keystone" and not conf.keystone_authtoken:
        raise ValueError('auth strategy "keystone" needs a [keystone_authtoken] table (www_authenticate_uri, ...)')
    if conf.candidates_answer_cap < 0:
        raise ValueError("candidates_answer_cap must be 0 (no cap) or more")
    if conf.allocation_candidates_generation_strategy not in ("depth-first", "breadth-first"):
        raise ValueError("allocation_candidates_generation_strategy must be 'depth-first' or 'breadth-first'")
    conf.limits = RequestLimits.from_table(data.get("api", {}))
    return conf
