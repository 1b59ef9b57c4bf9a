"""CPU list syntax as operators write it: ``0-3,8,^2`` (ranges, single CPUs, exclusions)."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["CpuSpecError", "format_cpus", "parse_cpus"]


class CpuSpecError(ValueError):
    pass


def parse_cpus(text: str) -> set[int]:
    """The CPUs ``text`` names; ``^N`` removes N (or ``^A-B`` a range) from what the others add."""
    if not isinstance(text, str):
        raise CpuSpecError(f"a CPU list is a string such as '0-3,^2', got {text!r}")
    added: set[int] = set()
    removed: set[int] = set()
    for raw in text.split(","):
        part = raw.strip()
        if not part:
            continue
        target = added
        if part.startswith("^"):
            target, part = removed, part[1:].strip()
        if "-" in part:
            low, _, high = part.partition("-")
            start, end = _number(low, text), _number(high, text)
            if start > end:
                raise CpuSpecError(f"invalid CPU range {part!r} in {text!r}: start after end")
            target.update(range(start, end + 1))
        else:
            target.add(_number(part, text))
    return added - removed


def format_cpus(cpus: Iterable[int]) -> str:
    """The shortest range form, sorted: {0, 1, 2, 5} -> '0-2,5'."""
    ordered = sorted(set(cpus))
    parts: list[str] = []
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        parts.append(str(ordered[i]) if i == j else f"{ordered[i]}-{ordered[j]}")
        i = j + 1
    return ",".join(parts)


def _number(text: str, whole: str) -> int:
    text = text.strip()
    if not text.isdigit() or not text.isascii():
        raise CpuSpecError(f"invalid CPU number {text!r} in {whole!r}")
    return int(text)
