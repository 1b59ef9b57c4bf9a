"""RequestSpec: what a caller asks the scheduler for, as typed, versioned, JSON-serializable data.

Field names follow Nova's RequestSpec where one exists so that operators recognise them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "SPEC_VERSION",
    "Destination",
    "Flavor",
    "Image",
    "RequestGroup",
    "RequestLevelParams",
    "RequestSpec",
    "ServerGroup",
]

# Bump the minor number when a field is added (old readers ignore it), the major number
# when a field changes meaning; from_dict refuses an unknown major version.
SPEC_VERSION = "1.0"


@dataclass
class Flavor:
    name: str
    vcpus: int
    memory_mb: int
    root_gb: int = 0
    ephemeral_gb: int = 0
    swap: int = 0  # MiB, as in Nova
    # Raw extra specs: "resources:VCPU", "resources1:VGPU", "trait:HW_CPU_X86_AVX2"
    # ("required"/"forbidden"), "trait1:...", "group_policy", "capabilities:...",
    # "aggregate_instance_extra_specs:...", "hw:cpu_policy", ...
    extra_specs: dict[str, str] = field(default_factory=dict)


@dataclass
class Image:
    id: str | None = None
    disk_format: str | None = None  # "qcow2", "raw", ... (image type support traits)
    # Glance-style properties: "hw_architecture", "img_hv_type", "hw_vm_mode",
    # "img_hv_requested_version", "hw_disk_bus", "trait:CUSTOM_X" = "required", ...
    properties: dict[str, str] = field(default_factory=dict)


@dataclass
class ServerGroup:
    uuid: str
    policy: str  # "affinity" | "anti-affinity" | "soft-affinity" | "soft-anti-affinity"
    rules: dict[str, int] = field(default_factory=dict)  # {"max_server_per_host": 1}
    members: list[str] = field(default_factory=list)  # instance uuids
    hosts: list[str] = field(default_factory=list)  # hosts members are on (filled by the scheduler)


@dataclass
class Destination:
    """A requested or forced destination, and aggregate constraints added by request filters."""

    host: str | None = None
    node: str | None = None
    cell: str | None = None
    # Each entry is a comma-separated OR list; entries are ANDed (-> member_of=in:...).
    aggregates: list[str] = field(default_factory=list)
    forbidden_aggregates: list[str] = field(default_factory=list)  # -> member_of=!in:...


@dataclass
class RequestGroup:
    """One granular request group (a port's bandwidth, a PCI device, ...), as sent to placement."""

    suffix: str = ""  # "" is the unsuffixed group; otherwise the placement group suffix
    resources: dict[str, int] = field(default_factory=dict)
    required_traits: list[str] = field(default_factory=list)
    forbidden_traits: list[str] = field(default_factory=list)
    any_traits: list[list[str]] = field(default_factory=list)  # each inner list -> required=in:A,B
    member_of: list[str] = field(default_factory=list)  # each an OR list "a,b"
    forbidden_aggregates: list[str] = field(default_factory=list)
    in_tree: str | None = None
    requester_id: str | None = None  # port uuid, device profile, ...
    provider_uuids: list[str] = field(default_factory=list)  # filled from mappings after the claim


@dataclass
class RequestLevelParams:
    root_required: list[str] = field(default_factory=list)
    root_forbidden: list[str] = field(default_factory=list)
    same_subtree: list[list[str]] = field(default_factory=list)  # each a list of group suffixes


@dataclass
class RequestSpec:
    flavor: Flavor
    image: Image = field(default_factory=Image)
    project_id: str = ""
    user_id: str = ""
    num_instances: int = 1
    instance_uuids: list[str] = field(default_factory=list)  # one per instance when given
    availability_zone: str | None = None
    # Nova-style hints: values are lists of strings ("same_host", "different_host",
    # "group", "query", "build_near_host_ip", "cidr", ...).
    scheduler_hints: dict[str, list[str]] = field(default_factory=dict)
    instance_group: ServerGroup | None = None
    force_hosts: list[str] = field(default_factory=list)
    force_nodes: list[str] = field(default_factory=list)
    ignore_hosts: list[str] = field(default_factory=list)
    requested_destination: Destination | None = None
    is_bfv: bool = False  # boot from volume: no root disk, no image type trait
    # Extra groups from ports (bandwidth), PCI devices, accelerators.
    requested_resources: list[RequestGroup] = field(default_factory=list)
    request_level_params: RequestLevelParams = field(default_factory=RequestLevelParams)
    # Set by the scheduler while it places instance number i of a multi-instance request.
    instance_uuid: str | None = None
    version: str = SPEC_VERSION
