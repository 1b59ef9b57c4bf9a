"""Scheduler configuration: the ``[scheduler]`` and ``[scheduler.weights]`` tables of the TOML file.

Example (every key optional)::

    [scheduler]
    placement_url = "http://127.0.0.1:8778"    # or placement_db = "sqlite:///./allotment.sqlite" (direct)
    enabled_filters = ["ComputeFilter", "ComputeCapabilitiesFilter", "ImagePropertiesFilter",
                       "ServerGroupAntiAffinityFilter", "ServerGroupAffinityFilter"]
    max_attempts = 3

    [scheduler.weights]
    ram_weight_multiplier = 1.0
    io_ops_weight_multiplier = -1.0

    [scheduler.api]
    max_request_body_size = 1048576   # bytes; larger bodies get 413 before they are read (0: no limit)
    limit_request_line = 8190
    limit_request_field_size = 16384

Behind Keystone (``auth_strategy = "keystone"`` in ``[scheduler]``), the top-level
``[keystone_authtoken]`` table, the one placement reads from the same file, configures the
auth_token middleware.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from allotment.infra.limits import RequestLimits

__all__ = ["DEFAULT_FILTERS", "DEFAULT_WEIGHERS", "DEFAULT_WEIGHTS", "MAX_REQUEST_BODY_SIZE", "SchedulerConfig", "load_scheduler_config"]

DEFAULT_FILTERS = [
    "ComputeFilter",
    "ComputeCapabilitiesFilter",
    "ImagePropertiesFilter",
    "ServerGroupAntiAffinityFilter",
    "ServerGroupAffinityFilter",
]
DEFAULT_WEIGHERS = [
    "RAMWeigher",
    "CPUWeigher",
    "DiskWeigher",
    "IoOpsWeigher",
    "NumInstancesWeigher",
    "ServerGroupSoftAffinityWeigher",
    "ServerGroupSoftAntiAffinityWeigher",
    "BuildFailureWeigher",
    "PCIWeigher",
]
# The scheduler's bodies (request specs, hosts) are small: 1 MiB, as before the limit was configurable.
MAX_REQUEST_BODY_SIZE = 1 << 20
DEFAULT_WEIGHTS = {
    "ram_weight_multiplier": 1.0,
    "cpu_weight_multiplier": 1.0,
    "disk_weight_multiplier": 1.0,
    "io_ops_weight_multiplier": -1.0,
    "num_instances_weight_multiplier": 0.0,
    "soft_affinity_weight_multiplier": 1.0,
    "soft_anti_affinity_weight_multiplier": 1.0,
    "build_failure_weight_multiplier": 1000000.0,
    "pci_weight_multiplier": 1.0,
}


@dataclass
class SchedulerConfig:
    # Where placement is: an HTTP endpoint, or a database URL for the direct client.
    placement_url: str | None = None
    placement_db: str | None = None
    # "none" (anyone who reaches the port may call it, as before) or "keystone".
    auth_strategy: str = "none"
    # How the scheduler authenticates to placement over HTTP: "noauth2" (token "admin") or
    # "keystone" (a token for the [keystone_authtoken] table's user: auth_url, username, ...).
    placement_auth: str = "noauth2"
    keystone_authtoken: dict[str, Any] = field(default_factory=dict)
    # The scheduler's own registry database (hosts, aggregates, groups, instances).
    db_url: str = "sqlite:///./allotment.sqlite"

    enabled_filters: list[str] = field(default_factory=lambda: list(DEFAULT_FILTERS))
    enabled_weighers: list[str] = field(default_factory=lambda: list(DEFAULT_WEIGHERS))
    weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))

    host_subset_size: int = 1
    shuffle_best_same_weighed_hosts: bool = False
    max_attempts: int = 3  # selected host + (max_attempts - 1) alternates per instance
    max_placement_results: int = 1000
    # A plain multi-instance request (no server group, NUMA or PCI fit, move or dry run) claims all its
    # instances in one POST /allocations and records them in one registry transaction.
    batch_claims: bool = True
    # A move (resize, cold migration) may pick the host the instance is on.
    allow_resize_to_same_host: bool = False
    service_down_time: int = 60  # seconds without a heartbeat before a host counts as down
    decision_log_size: int = 200  # recent decisions each worker keeps for GET /decisions and the dashboard

    # Filters' options.
    max_io_ops_per_host: int = 8
    max_instances_per_host: int = 50
    isolated_images: list[str] = field(default_factory=list)
    isolated_hosts: list[str] = field(default_factory=list)
    restrict_isolated_hosts_to_isolated_images: bool = True
    image_properties_default_architecture: str | None = None
    default_availability_zone: str = "nova"  # the zone of hosts in no aggregate with an availability_zone
    # PCI aliases for flavors' pci_passthrough:alias: tables of name, vendor_id, product_id,
    # device_type (type-PCI, type-PF, type-VF), numa_policy (required, legacy, preferred, socket) and
    # resource_class (instead of vendor and product: devices registered with that class).
    pci_alias: list[dict[str, Any]] = field(default_factory=list)
    # NUMA fitting tries the fullest host cells first instead of the emptiest.
    packing_host_numa_cells_allocation_strategy: bool = False

    # Request filters' gates.
    limit_tenants_to_placement_aggregate: bool = False
    placement_aggregate_required_for_tenants: bool = False
    query_placement_for_image_type_support: bool = False
    enable_isolated_aggregate_filtering: bool = False
    image_metadata_prefilter: bool = False

    # Limits at the door (``[scheduler.api]``).
    limits: RequestLimits = field(default_factory=lambda: RequestLimits(max_request_body_size=MAX_REQUEST_BODY_SIZE))


def load_scheduler_config(path: str | Path | None = None, **overrides: Any) -> SchedulerConfig:
    """Read ``[scheduler]`` from a TOML file; keyword overrides win. Unknown keys are an error."""
    data: dict[str, Any] = {}
    keystone_authtoken: dict[str, Any] = {}
    if path is not None:
        with open(path, "rb") as f:
            document = tomllib.load(f)
        data = dict(document.get("scheduler", {}))
        keystone_authtoken = dict(document.get("keystone_authtoken", {}))
    weights = dict(DEFAULT_WEIGHTS)
    weights.update({k: float(v) for k, v in data.pop("weights", {}).items()})
    api = data.pop("api", {})
    unknown_api = sorted(set(api) - {"max_request_body_size", "limit_request_line", "limit_request_field_size"})
    if unknown_api:
        raise ValueError(f"unknown [scheduler.api] option(s): {', '.join(unknown_api)}")
    data["limits"] = RequestLimits.from_table(api, max_request_body_size=MAX_REQUEST_BODY_SIZE)
    data.update({k: v for k, v in overrides.items() if v is not None})
    known = {f.name for f in fields(SchedulerConfig)} - {"weights", "keystone_authtoken"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"unknown [scheduler] option(s): {', '.join(unknown)}")
    config = SchedulerConfig(weights=weights, keystone_authtoken=keystone_authtoken, **data)
    if config.auth_strategy not in ("none", "keystone"):
        raise ValueError(f"unsupported [scheduler] auth_strategy {config.auth_strategy!r}: use none or keystone")
    if config.placement_auth not in ("noauth2", "keystone"):
        raise ValueError(f"unsupported [scheduler] placement_auth {config.placement_auth!r}: use noauth2 or keystone")
    from allotment.scheduler.topology.request import parse_pci_aliases

    parse_pci_aliases(config.pci_alias)  # ValueError naming the bad entry
    if "keystone" in (config.auth_strategy, config.placement_auth) and not keystone_authtoken:
        raise ValueError('"keystone" needs a [keystone_authtoken] table (www_authenticate_uri, auth_url, ...)')
    return config
