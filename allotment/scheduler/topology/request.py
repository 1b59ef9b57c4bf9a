"""What an instance asks of a host's topology, read from flavor extra specs and image properties as Nova reads them.

``topology_request`` returns a ``TopologyRequest`` (its ``cells`` is None when the instance
needs no NUMA topology) or raises ``InvalidRequestSpec`` with the reason Nova gives for the
same combination: conflicting flavor and image policies, asymmetric cells, CPUs out of
range or assigned twice, a dedicated mask without ``mixed``, a thread policy without
pinning, an unknown page size, a bad PCI alias, and so on.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from allotment.scheduler.errors import InvalidRequestSpec
from allotment.scheduler.topology.cpuspec import CpuSpecError, format_cpus, parse_cpus

__all__ = [
    "CPU_POLICIES", "CPU_THREAD_POLICIES", "EMULATOR_THREADS_POLICIES", "PAGES_ANY", "PAGES_LARGE", "PAGES_SMALL",
    "PCI_NUMA_POLICIES", "CellRequest", "PciAlias", "PciRequest", "TopologyRequest", "parse_pci_aliases",
    "topology_request",
]

CPU_POLICIES = ("shared", "dedicated", "mixed")
CPU_THREAD_POLICIES = ("prefer", "isolate", "require")
EMULATOR_THREADS_POLICIES = ("share", "isolate")
PCI_NUMA_POLICIES = ("required", "legacy", "preferred", "socket")
PAGES_SMALL, PAGES_LARGE, PAGES_ANY = -1, -2, -3
_NUMA_NODES_MAX = 128
_UNITS = {"": 1, "K": 1, "KB": 1, "KIB": 1, "M": 1024, "MB": 1024, "MIB": 1024, "G": 1024**2, "GB": 1024**2,
          "GIB": 1024**2}


@dataclass(frozen=True)
class CellRequest:
    id: int
    cpus: frozenset[int]  # guest CPUs that float over the host cell's shared CPUs
    pcpus: frozenset[int]  # guest CPUs pinned to the host cell's dedicated CPUs
    memory_mb: int


@dataclass(frozen=True)
class PciAlias:
    """One ``[scheduler] pci_alias`` entry: a name for a kind of device (several entries may share a name)."""

    name: str
    vendor_id: str | None  # None: any (when a resource class names the devices)
    product_id: str | None
    device_type: str | None = None  # type-PCI, type-PF, type-VF; None: any
    numa_policy: str | None = None
    resource_class: str | None = None  # devices registered with this class; default CUSTOM_PCI_<VENDOR>_<PRODUCT>


@dataclass(frozen=True)
class PciRequest:
    alias: str
    count: int
    specs: tuple[PciAlias, ...]  # a device matching any of them will do
    numa_policy: str  # the flavor's/image's policy, else the alias's, else legacy


@dataclass(frozen=True)
class TopologyRequest:
    cells: tuple[CellRequest, ...] | None
    cpu_policy: str | None = None
    thread_policy: str | None = None
    pagesize: int | None = None  # kB, or PAGES_SMALL / PAGES_LARGE / PAGES_ANY
    emulator_threads_policy: str | None = None
    pci: tuple[PciRequest, ...] = ()
    pci_numa_policy: str | None = None

    @property
    def pinned(self) -> bool:
        return self.cpu_policy in ("dedicated", "mixed")

    @property
    def emulator_threads_isolated(self) -> bool:
        return self.emulator_threads_policy == "isolate"

    @property
    def dedicated_count(self) -> int:
        return sum(len(c.pcpus) for c in self.cells or ()) + (1 if self.pinned and self.emulator_threads_isolated
                                                               else 0)

    @property
    def asks_anything(self) -> bool:
        return self.cells is not None or bool(self.pci)


@dataclass
class _Sources:
    extra: Mapping[str, str]
    props: Mapping[str, str]
    vcpus: int
    memory_mb: int

    def both(self, name: str) -> tuple[str | None, str | None]:
        return self.extra.get(f"hw:{name}"), self.props.get(f"hw_{name}")


def topology_request(vcpus: int, memory_mb: int, extra_specs: Mapping[str, str], properties: Mapping[str, str],
                     aliases: Sequence[PciAlias] | None = None) -> TopologyRequest:
    """The instance's topology request; ``aliases`` None skips resolving ``pci_passthrough:alias`` names."""
    src = _Sources(extra_specs, properties, vcpus, memory_mb)
    cpu_policy = _cpu_policy(src)
    thread_policy = _thread_policy(src)
    dedicated = _dedicated_mask(src)
    emulator = _choice("flavor.extra_specs.hw:emulator_threads_policy", extra_specs.get("hw:emulator_threads_policy"),
                       EMULATOR_THREADS_POLICIES, "CPU emulator threads policy")
    vcpu_rc, pcpu_rc = _explicit_cpu_resources(extra_specs)
    if cpu_policy and (vcpu_rc or pcpu_rc):
        raise InvalidRequestSpec("flavor.extra_specs: 'resources:VCPU' or 'resources:PCPU' cannot be combined with "
                                 "'hw:cpu_policy' or 'hw_cpu_policy'; use one or the other")
    if vcpu_rc and pcpu_rc:
        raise InvalidRequestSpec("flavor.extra_specs: 'resources:VCPU' and 'resources:PCPU' cannot both be given")
    if pcpu_rc:
        wanted = vcpus + (1 if emulator == "isolate" else 0)
        if pcpu_rc != wanted:
            raise InvalidRequestSpec(
                f"flavor.extra_specs: resources:PCPU={pcpu_rc} but the flavor needs exactly {wanted} "
                f"({vcpus} vCPUs{' + 1 for isolated emulator threads' if emulator == 'isolate' else ''})")
        cpu_policy = "dedicated"
    if vcpu_rc:
        cpu_policy = "shared"
    ht = _hyperthreading_trait(extra_specs, properties)
    if thread_policy and ht:
        raise InvalidRequestSpec("flavor.extra_specs: 'trait:HW_CPU_HYPERTHREADING' cannot be combined with "
                                 "'hw:cpu_thread_policy' or 'hw_cpu_thread_policy'; use one or the other")
    if ht == "forbidden":
        thread_policy = "isolate"
    elif ht == "required":
        thread_policy = "require"
    if cpu_policy in ("shared", None):
        if thread_policy:
            raise InvalidRequestSpec("flavor.extra_specs.hw:cpu_thread_policy: a CPU thread policy needs the 'dedicated' or 'mixed' "
                                     "CPU policy")
        if emulator == "isolate":
            raise InvalidRequestSpec("flavor.extra_specs.hw:emulator_threads_policy: 'isolate' needs the 'dedicated' or 'mixed' CPU "
                                     "policy")
        if dedicated:
            raise InvalidRequestSpec("flavor.extra_specs.hw:cpu_dedicated_mask: a dedicated CPU mask needs the 'mixed' CPU policy")
    elif cpu_policy == "dedicated":
        if dedicated:
            raise InvalidRequestSpec("flavor.extra_specs.hw:cpu_dedicated_mask: a dedicated CPU mask needs the 'mixed' CPU policy")
        dedicated = set(range(vcpus))
    elif not dedicated:
        raise InvalidRequestSpec("flavor.extra_specs.hw:cpu_dedicated_mask: the 'mixed' CPU policy needs a dedicated CPU mask")
    nodes = _node_count(src)
    pagesize = _pagesize(src)
    pci_numa_policy = _pci_numa_policy(src)
    pci = _pci_requests(extra_specs, aliases, pci_numa_policy) if aliases is not None else ()
    cells = None
    if nodes or pagesize or cpu_policy in ("dedicated", "mixed"):
        cells = _cells(src, nodes or 1, dedicated or set())
    return TopologyRequest(cells=cells, cpu_policy=cpu_policy, thread_policy=thread_policy, pagesize=pagesize,
                           emulator_threads_policy=emulator, pci=pci, pci_numa_policy=pci_numa_policy)


# ---- CPU policies -------------------------------------------------------------------------


def _cpu_policy(src: _Sources) -> str | None:
    flavor, image = src.both("cpu_policy")
    _choice("flavor.extra_specs.hw:cpu_policy", flavor, CPU_POLICIES, "CPU policy")
    _choice("image.properties.hw_cpu_policy", image, CPU_POLICIES, "CPU policy")
    if flavor == "dedicated":
        return flavor
    if flavor == "mixed":
        if image == "dedicated":
            raise InvalidRequestSpec("image.properties.hw_cpu_policy: the image may not override the flavor's "
                                     "CPU pinning policy ('mixed')")
        return flavor
    if flavor == "shared":
        if image in ("mixed", "dedicated"):
            raise InvalidRequestSpec("image.properties.hw_cpu_policy: the image may not override the flavor's "
                                     "CPU pinning policy ('shared')")
        return flavor
    return image


def _thread_policy(src: _Sources) -> str | None:
    flavor, image = src.both("cpu_thread_policy")
    _choice("flavor.extra_specs.hw:cpu_thread_policy", flavor, CPU_THREAD_POLICIES, "CPU thread policy")
    _choice("image.properties.hw_cpu_thread_policy", image, CPU_THREAD_POLICIES, "CPU thread policy")
    if flavor in (None, "prefer"):
        return flavor or image
    if image and image != flavor:
        raise InvalidRequestSpec(f"image.properties.hw_cpu_thread_policy: the image may not override the flavor's "
                                 f"CPU thread policy ({flavor!r})")
    return flavor


def _dedicated_mask(src: _Sources) -> set[int] | None:
    mask = src.extra.get("hw:cpu_dedicated_mask")
    if not mask:
        return None
    where = "flavor.extra_specs.hw:cpu_dedicated_mask"
    try:
        pcpus = parse_cpus(f"0-{src.vcpus - 1},{mask}" if mask.strip().startswith("^") else mask)
    except CpuSpecError as exc:
        raise InvalidRequestSpec(f"{where}: {exc}") from None
    every = set(range(src.vcpus))
    if not pcpus.issubset(every):
        raise InvalidRequestSpec(f"{where}: CPU(s) {format_cpus(pcpus - every)} are not vCPUs of the flavor "
                                 f"(0-{src.vcpus - 1})")
    if not pcpus or not every - pcpus:
        raise InvalidRequestSpec(f"{where}: a mixed instance needs at least one pinned and one unpinned vCPU")
    return pcpus


def _explicit_cpu_resources(extra: Mapping[str, str]) -> tuple[int, int]:
    counts = {"VCPU": 0, "PCPU": 0}
    for key, value in extra.items():
        match = re.fullmatch(r"resources([1-9][0-9]*)?:(VCPU|PCPU)", key)
        if match and isinstance(value, str) and value.strip().isdigit():
            counts[match.group(2)] += int(value)
    return counts["VCPU"], counts["PCPU"]


def _hyperthreading_trait(extra: Mapping[str, str], props: Mapping[str, str]) -> str | None:
    for key, value in extra.items():
        if re.fullmatch(r"trait([1-9][0-9]*)?:HW_CPU_HYPERTHREADING", key):
            return value
    if props.get("trait:HW_CPU_HYPERTHREADING") == "required":
        return "required"
    return None


# ---- NUMA cells and memory ------------------------------------------------------------------


def _node_count(src: _Sources) -> int | None:
    flavor, image = src.both("numa_nodes")
    if flavor and image:
        raise InvalidRequestSpec("image.properties.hw_numa_nodes: the image may not override the flavor's NUMA "
                                 "configuration")
    nodes = flavor or image
    if nodes is None:
        return None
    text = str(nodes).strip()
    if not text.isdigit() or int(text) < 1:
        raise InvalidRequestSpec(f"hw:numa_nodes: {nodes!r} is not a number of NUMA nodes greater than 0")
    if int(text) > _NUMA_NODES_MAX:
        raise InvalidRequestSpec(f"hw:numa_nodes: at most {_NUMA_NODES_MAX} NUMA nodes")
    return int(text)


def _per_node(src: _Sources, name: str) -> tuple[list[str] | None, str]:
    """hw:NAME.N values in order (flavor, else image), stopping at the first missing N; and where they came from."""
    for mapping, prefix, where in ((src.extra, f"hw:{name}", "flavor.extra_specs"),
                                   (src.props, f"hw_{name}", "image.properties")):
        values = []
        for n in range(_NUMA_NODES_MAX):
            value = mapping.get(f"{prefix}.{n}")
            if value is None:
                break
            values.append(value)
        if values:
            if where == "flavor.extra_specs" and any(k.startswith(f"hw_{name}.") for k in src.props):
                raise InvalidRequestSpec(f"image.properties.hw_{name}: the image may not override the flavor's NUMA "
                                         "configuration")
            return values, where
    return None, ""


def _cells(src: _Sources, nodes: int, dedicated: set[int]) -> tuple[CellRequest, ...]:
    cpu_texts, cpu_where = _per_node(src, "numa_cpus")
    mem_texts, mem_where = _per_node(src, "numa_mem")
    every = set(range(src.vcpus))
    shared = every - dedicated
    if cpu_texts is None and mem_texts is None:
        if src.vcpus % nodes or src.memory_mb % nodes:
            raise InvalidRequestSpec(
                f"hw:numa_nodes: {src.vcpus} vCPUs and {src.memory_mb} MB cannot be split evenly over {nodes} NUMA "
                "nodes; assign CPUs and memory to nodes explicitly (hw:numa_cpus.N, hw:numa_mem.N)")
        per_cpu, per_mem = src.vcpus // nodes, src.memory_mb // nodes
        return tuple(CellRequest(n, frozenset(set(range(n * per_cpu, (n + 1) * per_cpu)) & shared),
                                 frozenset(set(range(n * per_cpu, (n + 1) * per_cpu)) & dedicated), per_mem)
                     for n in range(nodes))
    if cpu_texts is None or mem_texts is None or len(cpu_texts) != nodes or len(mem_texts) != nodes:
        raise InvalidRequestSpec(f"hw:numa_cpus.N/hw:numa_mem.N: CPUs and memory must be given for each of the "
                                 f"{nodes} NUMA node(s)")
    cells = []
    unassigned = set(every)
    total = 0
    for n in range(nodes):
        try:
            cpus = parse_cpus(cpu_texts[n])
        except CpuSpecError as exc:
            raise InvalidRequestSpec(f"{cpu_where}: numa_cpus.{n}: {exc}") from None
        mem_text = str(mem_texts[n]).strip()
        if not mem_text.isdigit():
            raise InvalidRequestSpec(f"{mem_where}: numa_mem.{n}: {mem_texts[n]!r} is not a number of MB")
        for cpu in sorted(cpus):
            if cpu > src.vcpus - 1:
                raise InvalidRequestSpec(f"hw:numa_cpus.{n}: CPU number {cpu} is larger than max {src.vcpus - 1}")
            if cpu not in unassigned:
                raise InvalidRequestSpec(f"hw:numa_cpus.{n}: CPU number {cpu} is assigned to two nodes")
            unassigned.discard(cpu)
        memory = int(mem_text)
        total += memory
        cells.append(CellRequest(n, frozenset(cpus & shared), frozenset(cpus & dedicated), memory))
    if unassigned:
        raise InvalidRequestSpec(f"hw:numa_cpus.N: CPU number(s) {format_cpus(unassigned)} are not assigned to any "
                                 "node")
    if total != src.memory_mb:
        raise InvalidRequestSpec(f"hw:numa_mem.N: {total} MB of memory assigned, but the flavor has "
                                 f"{src.memory_mb} MB")
    return tuple(cells)


def _pagesize(src: _Sources) -> int | None:
    flavor, image = src.both("mem_page_size")
    if not flavor and image:
        raise InvalidRequestSpec(f"image.properties.hw_mem_page_size: page size {image!r} is forbidden unless the "
                                 "flavor asks for a page size")
    if not flavor:
        return None
    size = _page_value("flavor.extra_specs.hw:mem_page_size", flavor)
    if image and size in (PAGES_ANY, PAGES_LARGE):
        return _page_value("image.properties.hw_mem_page_size", image)
    if image:
        raise InvalidRequestSpec(f"image.properties.hw_mem_page_size: page size {image!r} is forbidden against the "
                                 f"flavor's {flavor!r}")
    return size


def _page_value(where: str, text: str) -> int:
    named = {"small": PAGES_SMALL, "large": PAGES_LARGE, "any": PAGES_ANY}
    if text in named:
        return named[text]
    if text.isdigit():
        return int(text)
    match = re.fullmatch(r"\s*([0-9]+)\s*([A-Za-z]*)\s*", text)
    if match and match.group(2).upper() in _UNITS:
        return int(match.group(1)) * _UNITS[match.group(2).upper()]
    raise InvalidRequestSpec(f"{where}: invalid memory page size {text!r} (small, large, any, or a size such as "
                             "2048, 2MB, 1GB)")


# ---- PCI --------------------------------------------------------------------------------------


def _pci_numa_policy(src: _Sources) -> str | None:
    flavor, image = src.both("pci_numa_affinity_policy")
    if flavor and image and flavor != image:
        raise InvalidRequestSpec("image.properties.hw_pci_numa_affinity_policy: the image may not override the "
                                 "flavor's hw:pci_numa_affinity_policy")
    policy = flavor or image
    if policy and policy not in PCI_NUMA_POLICIES:
        raise InvalidRequestSpec(f"hw:pci_numa_affinity_policy: invalid PCI NUMA affinity policy {policy!r} "
                                 f"(one of {', '.join(PCI_NUMA_POLICIES)})")
    return policy


def _pci_requests(extra: Mapping[str, str], aliases: Sequence[PciAlias],
                  flavor_policy: str | None) -> tuple[PciRequest, ...]:
    text = extra.get("pci_passthrough:alias")
    if not text:
        return ()
    where = "flavor.extra_specs.pci_passthrough:alias"
    by_name: dict[str, list[PciAlias]] = {}
    for alias in aliases:
        by_name.setdefault(alias.name, []).append(alias)
    requests = []
    for part in text.split(","):
        name, sep, count_text = part.strip().partition(":")
        if not sep or not name or not count_text.strip().isdigit() or int(count_text) < 1:
            raise InvalidRequestSpec(f"{where}: {part.strip()!r} is not NAME:COUNT with a count of at least 1")
        specs = by_name.get(name.strip())
        if specs is None:
            raise InvalidRequestSpec(f"{where}: PCI alias {name.strip()!r} is not defined ([scheduler] pci_alias)")
        policy = flavor_policy or specs[0].numa_policy or "legacy"
        requests.append(PciRequest(name.strip(), int(count_text), tuple(specs), policy))
    return tuple(requests)


def parse_pci_aliases(entries: Any) -> list[PciAlias]:
    """The ``[scheduler] pci_alias`` list (tables with name, vendor_id, product_id, device_type, numa_policy)."""
    if not isinstance(entries, list):
        raise ValueError("[scheduler] pci_alias: expected a list of tables")
    out = []
    for i, entry in enumerate(entries):
        where = f"[scheduler] pci_alias[{i}]"
        if not isinstance(entry, Mapping):
            raise ValueError(f"{where}: expected a table")
        unknown = sorted(set(entry) - {"name", "vendor_id", "product_id", "device_type", "numa_policy",
                                       "resource_class"})
        if unknown:
            raise ValueError(f"{where}: unknown key(s) {', '.join(unknown)}")
        name = entry.get("name")
        if not isinstance(name, str) or not name or ":" in name or "," in name:
            raise ValueError(f"{where}.name: a non-empty name without ':' or ','")
        rc = entry.get("resource_class")
        if rc is not None and (not isinstance(rc, str) or not re.fullmatch(r"[A-Z0-9_]+", rc)):
            raise ValueError(f"{where}.resource_class: a resource class name (A-Z, 0-9, _)")
        ids: dict[str, str | None] = {}
        for key in ("vendor_id", "product_id"):
            value = entry.get(key)
            if value is None and rc is not None:
                ids[key] = None
                continue
            if not isinstance(value, str) or not re.fullmatch(r"[0-9a-fA-F]{4}", value):
                raise ValueError(f"{where}.{key}: expected 4 hex digits (or give a resource_class)")
            ids[key] = value.lower()
        device_type = entry.get("device_type")
        if device_type is not None and device_type not in ("type-PCI", "type-PF", "type-VF"):
            raise ValueError(f"{where}.device_type: one of type-PCI, type-PF, type-VF")
        policy = entry.get("numa_policy")
        if policy is not None and policy not in PCI_NUMA_POLICIES:
            raise ValueError(f"{where}.numa_policy: one of {', '.join(PCI_NUMA_POLICIES)}")
        out.append(PciAlias(name, ids["vendor_id"], ids["product_id"], device_type, policy, rc))
    for name in {a.name for a in out}:
        same = [a for a in out if a.name == name]
        if len({(a.device_type, a.numa_policy) for a in same}) > 1:
            raise ValueError(f"[scheduler] pci_alias: entries named {name!r} disagree on device_type or numa_policy")
    return out


def _choice(where: str, value: Any, choices: Sequence[str], what: str) -> Any:
    if value is not None and value not in choices:
        raise InvalidRequestSpec(f"{where}: invalid {what} {value!r}; available: {', '.join(choices)}")
    return value
