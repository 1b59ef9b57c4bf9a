"""RequestSpec: what a caller asks the scheduler for, as typed, versioned, JSON-serializable data.

Field names follow Nova's RequestSpec where one exists so that operators recognise them.
``RequestSpec.from_flavor`` builds one from a flavor, an image and scheduler hints;
``to_dict``/``from_dict`` (and ``to_json``/``from_json``) carry it over the wire. Both ways
in run ``validate``; a spec built field by field should be validated before it is used.

Specs are frozen dataclasses and the scheduler never edits one: what it works out per
request (request filters' constraints, the server group as placed so far, the instance
being placed) lives in its cycle state, and filters get a derived spec (``for_instance``).
"""

from __future__ import annotations

import copy
import dataclasses
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from allotment.scheduler import spec_schema
from allotment.scheduler.errors import InvalidRequestSpec
from allotment.scheduler.topology.request import (
    CPU_POLICIES,
    CPU_THREAD_POLICIES,
    EMULATOR_THREADS_POLICIES,
    PciAlias,
    TopologyRequest,
    topology_request,
)

__all__ = [
    "CPU_POLICIES",
    "CPU_THREAD_POLICIES",
    "EMULATOR_THREADS_POLICIES",
    "GROUP_POLICIES",
    "SPEC_VERSION",
    "Destination",
    "Flavor",
    "FlavorRequest",
    "Image",
    "InvalidRequestSpec",
    "RequestGroup",
    "RequestLevelParams",
    "RequestSpec",
    "ServerGroup",
    "normalize_hints",
    "parse_flavor_request",
]

# Bump the minor number when a field is added (old readers ignore it), the major number
# when a field changes meaning; from_dict refuses an unknown major version.
SPEC_VERSION = "1.0"

_VALID = "_validated"  # instance attribute set once validate() or from_dict() passed
_TOPOLOGY = "_topology"  # instance attribute: cached topology requests

GROUP_POLICIES = ("none", "isolate")


@dataclass(frozen=True)
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


@dataclass(frozen=True)
class Image:
    id: str | None = None
    disk_format: str | None = None  # "qcow2", "raw", ... (image type support traits)
    # Glance-style properties: "hw_architecture", "img_hv_type", "hw_vm_mode",
    # "img_hv_requested_version", "hw_disk_bus", "trait:CUSTOM_X" = "required", ...
    properties: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ServerGroup:
    uuid: str
    policy: str  # "affinity" | "anti-affinity" | "soft-affinity" | "soft-anti-affinity"
    rules: dict[str, int] = field(default_factory=dict)  # {"max_server_per_host": 1}
    members: list[str] = field(default_factory=list)  # instance uuids
    hosts: list[str] = field(default_factory=list)  # hosts members are on (filled by the scheduler)


@dataclass(frozen=True)
class Destination:
    """A requested or forced destination, and aggregate constraints added by request filters."""

    host: str | None = None
    node: str | None = None
    cell: str | None = None
    # Each entry is a comma-separated OR list; entries are ANDed (-> member_of=in:...).
    aggregates: list[str] = field(default_factory=list)
    forbidden_aggregates: list[str] = field(default_factory=list)  # -> member_of=!in:...


@dataclass(frozen=True)
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

    def asks_anything(self) -> bool:
        """Whether the group constrains placement at all (resources, traits, aggregates or a tree)."""
        return bool(
            self.resources or self.required_traits or self.forbidden_traits or self.any_traits
            or self.member_of or self.forbidden_aggregates or self.in_tree
        )


@dataclass(frozen=True)
class RequestLevelParams:
    root_required: list[str] = field(default_factory=list)
    root_forbidden: list[str] = field(default_factory=list)
    same_subtree: list[list[str]] = field(default_factory=list)  # each a list of group suffixes


@dataclass(frozen=True)
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
    # The instance being placed, in the per-instance spec the scheduler hands its filters and
    # weighers (``RequestSpec.for_instance``); None in the spec a caller sends.
    instance_uuid: str | None = None
    version: str = SPEC_VERSION

    # -- building ------------------------------------------------------------------------------

    @classmethod
    def from_flavor(
        cls,
        flavor: Flavor,
        image: Image | None = None,
        *,
        project_id: str,
        user_id: str,
        hints: Mapping[str, str | Sequence[str]] | None = None,
        num_instances: int = 1,
        instance_uuids: Sequence[str] | None = None,
        availability_zone: str | None = None,
        server_group: ServerGroup | None = None,
        is_bfv: bool = False,
        force_hosts: Sequence[str] = (),
        force_nodes: Sequence[str] = (),
        ignore_hosts: Sequence[str] = (),
        requested_destination: Destination | None = None,
        requested_resources: Sequence[RequestGroup] = (),
        request_level_params: RequestLevelParams | None = None,
    ) -> RequestSpec:
        """A validated spec for ``num_instances`` servers of ``flavor`` booted from ``image``.

        ``hints`` take a string or a list of strings per hint, as Nova's API does, and are
        stored as lists. An ``availability_zone`` written ``AZ:HOST``, ``AZ:HOST:NODE`` or
        ``AZ::NODE`` also forces the host and/or node, as Nova allows administrators to do.
        Integer extra spec values are stored as strings. Every argument is copied.
        Raises ``InvalidRequestSpec`` naming the first bad field.
        """
        zone, zone_host, zone_node = _split_availability_zone(availability_zone)
        hosts = _merge_forced("force_hosts", force_hosts, zone_host)
        nodes = _merge_forced("force_nodes", force_nodes, zone_node)
        if isinstance(flavor, Flavor) and isinstance(flavor.extra_specs, Mapping):
            flavor = dataclasses.replace(
                flavor, extra_specs={k: _extra_spec_text(v) for k, v in flavor.extra_specs.items()}
            )
        spec = cls(
            flavor=copy.deepcopy(flavor),
            image=copy.deepcopy(image) if image is not None else Image(),
            project_id=project_id,
            user_id=user_id,
            num_instances=num_instances,
            instance_uuids=_as_list("instance_uuids", instance_uuids or ()),
            availability_zone=zone,
            scheduler_hints=normalize_hints(hints or {}),
            instance_group=copy.deepcopy(server_group),
            force_hosts=hosts,
            force_nodes=nodes,
            ignore_hosts=_as_list("ignore_hosts", ignore_hosts),
            requested_destination=copy.deepcopy(requested_destination),
            is_bfv=is_bfv,
            requested_resources=copy.deepcopy(_as_list("requested_resources", requested_resources)),
            request_level_params=copy.deepcopy(request_level_params) or RequestLevelParams(),
        )
        spec.validate()
        return spec

    def for_instance(self, instance_uuid: str, group: ServerGroup | None) -> RequestSpec:
        """This spec as filters and weighers see it while ``instance_uuid`` is placed (a shallow copy)."""
        return dataclasses.replace(self, instance_uuid=instance_uuid, instance_group=group)

    # -- checking ------------------------------------------------------------------------------

    def validate(self) -> None:
        """Raise ``InvalidRequestSpec`` (naming the field) unless every field is well formed and consistent."""
        self._check_parts()
        problem = spec_schema.first_error(self.to_dict())
        if problem is not None:
            raise InvalidRequestSpec(problem)
        self._check_rules()
        self._mark_valid()

    def ensure_valid(self) -> None:
        """``validate()``, unless this spec was validated already (built by ``from_flavor``/``from_dict``).

        Specs are frozen, so a validated one stays valid; a spec made with ``RequestSpec(...)``
        or ``dataclasses.replace`` is checked here on first use.
        """
        if not self.__dict__.get(_VALID):
            self.validate()

    def _mark_valid(self) -> None:
        # Not a field: equality, copies by replace() and to_dict() ignore it.
        object.__setattr__(self, _VALID, True)

    def _check_parts(self) -> None:
        parts: list[tuple[str, Any, type, bool]] = [
            ("flavor", self.flavor, Flavor, False),
            ("image", self.image, Image, False),
            ("instance_group", self.instance_group, ServerGroup, True),
            ("requested_destination", self.requested_destination, Destination, True),
            ("request_level_params", self.request_level_params, RequestLevelParams, False),
        ]
        parts += [(f"requested_resources[{i}]", g, RequestGroup, False) for i, g in enumerate(self.requested_resources)]
        for name, value, kind, nullable in parts:
            if not (isinstance(value, kind) or (nullable and value is None)):
                raise InvalidRequestSpec(f"{name}: expected a {kind.__name__}, got {type(value).__name__}")

    def _check_rules(self) -> None:
        if self.version != SPEC_VERSION:
            raise InvalidRequestSpec(f"version: {self.version} is not this module's {SPEC_VERSION}")
        if self.instance_uuids and len(self.instance_uuids) != self.num_instances:
            raise InvalidRequestSpec(
                f"instance_uuids: {len(self.instance_uuids)} given for num_instances={self.num_instances}"
            )
        if len(set(self.instance_uuids)) != len(self.instance_uuids):
            raise InvalidRequestSpec("instance_uuids: the same uuid is given twice")
        flavor_request = parse_flavor_request(self.flavor.extra_specs)
        self.topology_request()
        for key in sorted(self.image.properties):
            name = key.removeprefix("trait:")
            if key.startswith("trait:") and not _NAME.match(name):
                raise InvalidRequestSpec(f"image.properties.{key}: {name!r} is not a valid trait name (A-Z, 0-9 and _)")
        suffixes = {s for s in flavor_request.groups if s}
        for i, group in enumerate(self.requested_resources):
            where = f"requested_resources[{i}]"
            if not group.suffix:
                raise InvalidRequestSpec(f"{where}.suffix: a requested resource group needs a non-empty suffix")
            if group.suffix in suffixes:
                raise InvalidRequestSpec(f"{where}.suffix: {group.suffix!r} is already used by another request group")
            if not group.asks_anything():
                raise InvalidRequestSpec(f"{where}: the group asks for nothing (no resources, traits or aggregates)")
            suffixes.add(group.suffix)
        for i, names in enumerate(self.request_level_params.same_subtree):
            unknown = sorted(set(names) - suffixes)
            if unknown:
                raise InvalidRequestSpec(
                    f"request_level_params.same_subtree[{i}]: no request group has suffix {', '.join(unknown)}"
                )
        both = set(self.request_level_params.root_required) & set(self.request_level_params.root_forbidden)
        if both:
            raise InvalidRequestSpec(
                f"request_level_params: {', '.join(sorted(both))} both required and forbidden on the root"
            )
        group_hint = self.scheduler_hints.get("group")
        if group_hint and self.instance_group is not None and group_hint != [self.instance_group.uuid]:
            raise InvalidRequestSpec(
                f"scheduler_hints.group: {group_hint} does not name instance_group {self.instance_group.uuid}"
            )

    def cpu_policies(self) -> tuple[str | None, str | None]:
        """(CPU policy, CPU thread policy) from the flavor, or else the image, as ``topology_request`` resolves them."""
        request = self.topology_request()
        return request.cpu_policy, request.thread_policy

    def topology_request(self, aliases: Sequence[PciAlias] | None = None) -> TopologyRequest:
        """What the instance asks of a host's NUMA cells, CPUs, pages and (given the aliases) PCI devices.

        Raises ``InvalidRequestSpec`` for the combinations Nova refuses. Cached on the spec
        (specs are frozen), one entry per alias list.
        """
        cache = self.__dict__.setdefault(_TOPOLOGY, {})
        key = id(aliases)
        found = cache.get(key)
        if found is None or found[0] is not aliases:
            flavor = self.flavor
            found = cache[key] = (aliases, topology_request(flavor.vcpus, flavor.memory_mb, flavor.extra_specs,
                                                            self.image.properties, aliases))
        return found[1]

    # -- serialization -------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (dicts, lists, strings, numbers, booleans, None), ``version`` included."""
        data = _plain(self)
        assert isinstance(data, dict)
        return data

    @classmethod
    def from_dict(cls, data: Any) -> RequestSpec:
        """The spec ``data`` describes (the output of ``to_dict``), validated.

        A missing ``version`` means the current one. A spec of a newer minor version loses
        the fields this reader does not know; otherwise an unknown field is an error, as is
        another major version. Raises ``InvalidRequestSpec`` naming the bad field.
        """
        if not isinstance(data, Mapping):
            raise InvalidRequestSpec(f"a RequestSpec must be an object, got {type(data).__name__}")
        data = copy.deepcopy(dict(data))
        version = data.get("version", SPEC_VERSION)
        major, minor = _version_numbers(version)
        our_major, our_minor = _version_numbers(SPEC_VERSION)
        if major != our_major:
            raise InvalidRequestSpec(f"version: {version} is not supported; this reader knows {our_major}.x")
        if minor > our_minor:
            data = spec_schema.drop_unknown_fields(data)
        data["version"] = SPEC_VERSION
        problem = spec_schema.first_error(data)
        if problem is not None:
            raise InvalidRequestSpec(problem)
        spec = cls._from_checked_dict(data)
        spec._check_rules()
        spec._mark_valid()
        return spec

    @classmethod
    def _from_checked_dict(cls, data: dict[str, Any]) -> RequestSpec:
        def optional(kind: type, value: dict[str, Any] | None) -> Any:
            return None if value is None else kind(**value)

        return cls(**{
            **data,
            "flavor": Flavor(**data["flavor"]),
            "image": Image(**data.get("image", {})),
            "instance_group": optional(ServerGroup, data.get("instance_group")),
            "requested_destination": optional(Destination, data.get("requested_destination")),
            "requested_resources": [RequestGroup(**g) for g in data.get("requested_resources", [])],
            "request_level_params": RequestLevelParams(**data.get("request_level_params", {})),
        })

    def to_json(self) -> bytes:
        """``to_dict()`` as compact JSON with sorted keys (the same spec always gives the same bytes)."""
        return orjson.dumps(self.to_dict(), option=orjson.OPT_SORT_KEYS)

    @classmethod
    def from_json(cls, text: bytes | str) -> RequestSpec:
        try:
            data = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise InvalidRequestSpec(f"not valid JSON: {exc}") from None
        return cls.from_dict(data)


@dataclass
class FlavorRequest:
    """What a flavor's extra specs ask placement for: request groups by suffix ("" = unsuffixed) and policies.

    Resource amounts may be 0: a zero overrides the amount the flavor's own fields would give.
    """

    groups: dict[str, RequestGroup] = field(default_factory=dict)
    group_policy: str | None = None
    emulator_threads_policy: str | None = None


# resources[SUFFIX]:CLASS and trait[SUFFIX]:NAME, with placement's suffix alphabet.
_GROUP_KEY = re.compile(r"^(resources|trait)([a-zA-Z0-9_-]{1,64})?:(.*)$")
_NAME = re.compile(spec_schema.NAME)


def parse_flavor_request(extra_specs: Mapping[str, str]) -> FlavorRequest:
    """Read the placement-related extra specs; raise ``InvalidRequestSpec`` naming the first malformed key.

    Keys this does not know (``capabilities:...``, ``aggregate_instance_extra_specs:...``, ...)
    are left to the filters.
    """
    request = FlavorRequest()
    for key in sorted(extra_specs):
        value = extra_specs[key]
        where = f"flavor.extra_specs.{key}"
        if key == "group_policy":
            request.group_policy = _check_choice(where, value, GROUP_POLICIES)
            continue
        if key == "hw:cpu_policy":
            _check_choice(where, value, CPU_POLICIES)
            continue
        if key == "hw:cpu_thread_policy":
            _check_choice(where, value, CPU_THREAD_POLICIES)
            continue
        if key == "hw:emulator_threads_policy":
            request.emulator_threads_policy = _check_choice(where, value, EMULATOR_THREADS_POLICIES)
            continue
        match = _GROUP_KEY.match(key)
        if match is None:
            if key.startswith(("resources", "trait")) and ":" in key:
                raise InvalidRequestSpec(f"{where}: a group suffix is 1 to 64 of the characters a-z A-Z 0-9 _ -")
            continue
        kind, suffix, name = match.group(1), match.group(2) or "", match.group(3)
        noun = "resource class" if kind == "resources" else "trait"
        if not _NAME.match(name):
            raise InvalidRequestSpec(f"{where}: {noun} {name!r} is not a valid name (A-Z, 0-9 and _)")
        group = request.groups.setdefault(suffix, RequestGroup(suffix=suffix))
        if kind == "resources":
            group.resources[name] = _amount(where, value)
        elif value == "required":
            group.required_traits.append(name)
        elif value == "forbidden":
            group.forbidden_traits.append(name)
        else:
            raise InvalidRequestSpec(f"{where}: expected 'required' or 'forbidden', got {value!r}")
    return request


def normalize_hints(hints: Mapping[str, Any]) -> dict[str, list[str]]:
    """Scheduler hints with every value a list of strings; a single string becomes a one-item list."""
    if not isinstance(hints, Mapping):
        raise InvalidRequestSpec(f"scheduler_hints: expected an object, got {type(hints).__name__}")
    out: dict[str, list[str]] = {}
    for name, value in hints.items():
        if not isinstance(name, str) or not name:
            raise InvalidRequestSpec(f"scheduler_hints: hint names are non-empty strings, got {name!r}")
        values = [value] if isinstance(value, str) else value
        if not isinstance(values, (list, tuple)) or not all(isinstance(v, str) for v in values):
            raise InvalidRequestSpec(f"scheduler_hints.{name}: expected a string or a list of strings, got {value!r}")
        out[name] = list(values)
    return out


def _check_choice(where: str, value: Any, choices: Sequence[str]) -> Any:
    if value is not None and value not in choices:
        raise InvalidRequestSpec(f"{where}: expected one of {', '.join(choices)}, got {value!r}")
    return value


def _amount(where: str, value: Any) -> int:
    text = value.strip() if isinstance(value, str) else None
    if text is None or not text.isdigit() or not text.isascii():
        raise InvalidRequestSpec(f"{where}: expected an integer >= 0, got {value!r}")
    return int(text)


def _extra_spec_text(value: Any) -> Any:
    # Integers are the one non-string value people commonly write ({"resources:VCPU": 0}).
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _split_availability_zone(value: str | None) -> tuple[str | None, str | None, str | None]:
    """``AZ``, ``AZ:HOST``, ``AZ:HOST:NODE`` or ``AZ::NODE`` -> (zone, host, node); empty parts are None."""
    if value is None:
        return None, None, None
    if not isinstance(value, str):
        raise InvalidRequestSpec(f"availability_zone: expected a string, got {type(value).__name__}")
    parts = value.split(":")
    if len(parts) > 3:
        raise InvalidRequestSpec(f"availability_zone: {value!r} is not AZ, AZ:HOST, AZ:HOST:NODE or AZ::NODE")
    zone, host, node = (parts + [""] * 3)[:3]
    return zone or None, host or None, node or None


def _as_list(name: str, values: Sequence[Any]) -> list[Any]:
    # A lone string is a sequence too; taking it letter by letter would hide the mistake.
    if isinstance(values, (str, bytes)) or not isinstance(values, (list, tuple)):
        raise InvalidRequestSpec(f"{name}: expected a list, got {type(values).__name__}")
    return list(values)


def _merge_forced(name: str, given: Sequence[str], from_zone: str | None) -> list[str]:
    values = _as_list(name, given)
    if from_zone is not None:
        if values and values != [from_zone]:
            raise InvalidRequestSpec(f"{name}: {values} conflicts with {from_zone!r} from availability_zone")
        values = [from_zone]
    return values


def _version_numbers(version: Any) -> tuple[int, int]:
    if not isinstance(version, str) or not re.fullmatch(r"[0-9]+\.[0-9]+", version):
        raise InvalidRequestSpec(f"version: expected 'MAJOR.MINOR', got {version!r}")
    major, minor = version.split(".")
    return int(major), int(minor)


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted(_plain(v) for v in value)
    return value
