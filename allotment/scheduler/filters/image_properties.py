"""ImagePropertiesFilter: the image's architecture, hypervisor type, VM mode and hypervisor version vs the host."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from typing import ClassVar

from allotment.scheduler.errors import FilterError
from allotment.scheduler.host_state import HostState
from allotment.scheduler.plugins import HostFilter
from allotment.scheduler.spec import RequestSpec

__all__ = ["ImagePropertiesFilter", "hypervisor_version_text", "version_predicate"]

# Old spellings hosts or images may still use, mapped to the canonical names.
_ARCH_ALIASES = {"i386": "i686", "i486": "i686", "i586": "i686", "x86_32": "i686", "x86_32p": "i686", "amd64": "x86_64"}
_HV_TYPE_ALIASES = {"xapi": "xen"}
_VM_MODE_ALIASES = {"pv": "xen", "hv": "hvm", "baremetal": "hvm"}

_COMPARISONS: dict[str, Callable[[tuple[int, ...], tuple[int, ...]], bool]] = {
    "<": operator.lt, "<=": operator.le, "==": operator.eq, "!=": operator.ne, ">=": operator.ge, ">": operator.gt,
}
_CLAUSE = re.compile(r"^\s*(<=|>=|==|!=|<|>)\s*(\d+(?:\.\d+)*)\s*$")

Version = tuple[int, ...]
_Triple = tuple[str | None, str | None, str | None]  # (architecture, hypervisor type, vm mode)


class ImagePropertiesFilter(HostFilter):
    """The image's ``(hw_architecture, img_hv_type, hw_vm_mode)`` must fit one of the host's supported_instances.

    Properties the image leaves out match anything; ``hw_architecture`` falls back to config
    ``image_properties_default_architecture``. ``img_hv_requested_version`` (``">=6.0"``,
    ``">=6.0,<9"``) must hold for the host's hypervisor version when the host reports one,
    and ``hw_maxphysaddr_bits`` must not exceed the host's ``cpu_info.maxphysaddr.bits`` when
    the host reports that.
    """

    run_filter_once_per_request: ClassVar[bool] = True

    def applies(self, spec: RequestSpec) -> bool:
        return any(self._wanted(spec))

    def host_passes(self, host: HostState, spec: RequestSpec) -> bool:
        return bool(self.filter_all([host], spec))

    def filter_all(self, hosts: list[HostState], spec: RequestSpec) -> list[HostState]:
        wanted = self._wanted(spec)
        if not any(wanted):
            return list(hosts)
        props = spec.image.properties
        requested_version = props.get("img_hv_requested_version")
        # Parsed before looking at any host, so a malformed predicate is reported whatever the hosts are.
        version_ok = version_predicate(requested_version) if requested_version else None
        return [h for h in hosts if _supports(h, wanted, version_ok, props.get("hw_maxphysaddr_bits"))]

    def _wanted(self, spec: RequestSpec) -> _Triple:
        props = spec.image.properties
        architecture = props.get("hw_architecture") or self.config.image_properties_default_architecture
        return (
            _canonical(architecture, _ARCH_ALIASES),
            _canonical(props.get("img_hv_type"), _HV_TYPE_ALIASES),
            _canonical(props.get("hw_vm_mode"), _VM_MODE_ALIASES),
        )


def _supports(
    host: HostState, wanted: _Triple, version_ok: Callable[[Version], bool] | None, maxphysaddr_bits: str | None
) -> bool:
    if not host.supported_instances:
        return False
    if version_ok is not None and host.hypervisor_version and not version_ok(_version_tuple(host.hypervisor_version)):
        return False
    if not _maxphysaddr_ok(host, maxphysaddr_bits):
        return False
    for offered in host.supported_instances:
        offered_canonical = (
            _canonical(offered[0], _ARCH_ALIASES),
            _canonical(offered[1], _HV_TYPE_ALIASES),
            _canonical(offered[2], _VM_MODE_ALIASES),
        )
        if all(w is None or w == o for w, o in zip(wanted, offered_canonical)):
            return True
    return False


def version_predicate(text: str) -> Callable[[Version], bool]:
    """Parse ``">=6.0"`` or ``">=6.0, <9"`` (every clause must hold); raises FilterError when malformed."""
    clauses = []
    for clause in text.split(","):
        found = _CLAUSE.match(clause)
        if not found:
            raise FilterError(
                f"img_hv_requested_version {text!r}: {clause.strip()!r} is not an operator "
                f"({', '.join(_COMPARISONS)}) followed by a dotted version"
            )
        clauses.append((_COMPARISONS[found.group(1)], tuple(int(p) for p in found.group(2).split("."))))

    def holds(version: Version) -> bool:
        return all(compare(*_padded(version, bound)) for compare, bound in clauses)

    return holds


def hypervisor_version_text(version: int) -> str:
    """8002000 -> "8.2.0": hosts report versions packed three decimal digits per part."""
    return ".".join(str(p) for p in _version_tuple(version))


def _version_tuple(version: int) -> Version:
    parts: list[int] = []
    while version:
        version, part = divmod(version, 1000)
        parts.insert(0, part)
    return tuple(parts) or (0,)


def _padded(a: Version, b: Version) -> tuple[Version, Version]:
    width = max(len(a), len(b))
    return a + (0,) * (width - len(a)), b + (0,) * (width - len(b))


def _maxphysaddr_ok(host: HostState, requested: str | None) -> bool:
    if not requested:
        return True
    maxphysaddr = host.cpu_info.get("maxphysaddr")
    bits = maxphysaddr.get("bits") if isinstance(maxphysaddr, dict) else None
    if not bits:
        return True
    try:
        wanted = int(requested)
    except ValueError:
        raise FilterError(f"hw_maxphysaddr_bits {requested!r} is not a whole number") from None
    try:
        return int(bits) >= wanted
    except (TypeError, ValueError):
        return False  # the host reports nonsense: it cannot prove it has the bits


def _canonical(name: str | None, aliases: dict[str, str]) -> str | None:
    if not name:
        return None
    lowered = name.lower()
    return aliases.get(lowered, lowered)
