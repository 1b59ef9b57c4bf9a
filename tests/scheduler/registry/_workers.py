"""Code the concurrency tests run in child processes (importable under the ``spawn`` start method)."""

from __future__ import annotations

import traceback
from typing import Any

from allotment.scheduler.registry import GroupPolicyViolation, Registry


def open_registry(url: str, barrier: Any, results: Any) -> None:
    """Open (and so migrate) the registry at the same moment as the other workers."""
    try:
        barrier.wait(60)
        Registry.open(url).close()
        results.put("ok")
    except Exception:
        results.put(traceback.format_exc())


def place_members(url: str, group_uuid: str, host: str, instance_uuids: list[str], barrier: Any, results: Any) -> None:
    """Try to add each instance to the group on ``host``; report (instance, "placed" | "refused" | error)."""
    try:
        reg = Registry.open(url, migrate=False)
    except Exception:
        results.put([("open", traceback.format_exc())])
        return
    out = []
    try:
        barrier.wait(60)
        for instance in instance_uuids:
            try:
                reg.add_group_member(group_uuid, instance, host)
                out.append((instance, "placed"))
            except GroupPolicyViolation:
                out.append((instance, "refused"))
            except Exception:
                out.append((instance, traceback.format_exc()))
    finally:
        reg.close()
        results.put(out)
