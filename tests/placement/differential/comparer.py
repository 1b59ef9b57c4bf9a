"""Compare two normalised answers; name each difference with a short, groupable kind."""

from __future__ import annotations

import re
from typing import Any

from .generator import Call
from .normaliser import UUID_RE, Answer

__all__ = ["compare", "kind_of"]


def _paths(a: Any, b: Any, path: str = "", out: list[str] | None = None, limit: int = 8) -> list[str]:
    """The paths (``.key``, ``[i]``) where ``a`` and ``b`` differ, at most ``limit``."""
    out = [] if out is None else out
    if len(out) >= limit or a == b:
        return out
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b), key=str):
            if key not in a or key not in b:
                out.append(f"{path}.{key}" + (" (only allotment)" if key not in a else " (only upstream)"))
            else:
                _paths(a[key], b[key], f"{path}.{key}", out, limit)
            if len(out) >= limit:
                break
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _paths(x, y, f"{path}[{i}]", out, limit)
    else:
        out.append(path or ".")
    return out


def _shape(path: str) -> str:
    """A path with indices and uuids taken out, so differences of one cause group together."""
    path = UUID_RE.sub("<uuid>", path)
    return re.sub(r"\[\d+\]", "[]", path)


def compare(up: Answer, al: Answer) -> list[str]:
    """The aspects in which the answers differ: ``status``, ``header NAME``, ``body PATH``."""
    if up.status != al.status:
        return ["status"]
    aspects = [f"header {name}" for name in sorted(set(up.headers) | set(al.headers))
               if up.headers.get(name) != al.headers.get(name)]
    aspects += [f"body {p}" for p in _paths(up.body, al.body)]
    return aspects


def kind_of(call: Call, up: Answer, al: Answer, aspects: list[str]) -> str:
    """``op: what``; e.g. ``put_inventories: status 409/200`` or ``get_provider: body .generation``."""
    first = aspects[0]
    if first == "status":
        return f"{call.op}: status {up.status}/{al.status}"
    shapes = sorted({_shape(a) for a in aspects})
    return f"{call.op} {up.status}: " + "; ".join(shapes[:3])
