"""Following a path such as ``cpu_info.features`` or ``stats.gpu_model`` into a HostState."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from allotment.scheduler.host_state import HostState

__all__ = ["has_field", "lookup"]


def has_field(host: HostState, name: str) -> bool:
    """Whether ``name`` is a data attribute of the host (methods and private names are not) or a stats key."""
    return _is_data_attribute(host, name) or name in host.stats


def lookup(host: HostState, path: Sequence[str], *, stats_fallback: bool = True) -> Any:
    """The value at ``path`` below the host, or None when any step is missing.

    The first step names a host attribute, or (with ``stats_fallback``) a key of ``host.stats``
    when no such attribute has a value. Later steps index dicts or read attributes of nested
    objects; a string met before the last step is parsed as JSON, since hosts report some
    facts (stats values) as JSON text.
    """
    current: Any = host
    for depth, step in enumerate(path):
        if isinstance(current, str):
            try:
                current = json.loads(current)
            except ValueError:
                return None
        if isinstance(current, dict):
            current = current.get(step)
        elif depth == 0:
            current = getattr(host, step) if _is_data_attribute(host, step) else None
            if current is None and stats_fallback:
                current = host.stats.get(step)
        elif _is_data_attribute(current, step):
            current = getattr(current, step)
        else:
            return None
        if current is None:
            return None
    return current


def _is_data_attribute(obj: object, name: str) -> bool:
    if not name or name.startswith("_") or not hasattr(obj, name):
        return False
    return not callable(getattr(obj, name))
