"""Rendering what the scheduler decided or refused: a dry run's weights, a refusal's explanation.

Used by ``allotment schedule`` (``--dry-run``, and whenever the answer is no valid host).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import click

from allotment.cli.errors import CommandError
from allotment.cli.output import Output

__all__ = ["Refusal", "explanation_lines", "refusal", "show_decision"]


def _resources(group: Mapping[str, Any]) -> str:
    parts = [", ".join(f"{rc}:{n}" for rc, n in (group.get("resources") or {}).items())]
    for key in ("required", "forbidden", "member_of", "not_member_of"):
        if group.get(key):
            parts.append(f"{key} {','.join(group[key])}")
    if group.get("in_tree"):
        parts.append(f"in_tree {group['in_tree']}")
    return "; ".join(p for p in parts if p)


def _ruled_out(ruled: Mapping[str, Any]) -> str:
    return "; ".join(f"{kind.replace('_', ' ')} {v['hosts']} ("
                     + ", ".join(f"{item or '-'} {n}" for item, n in v["by"].items()) + ")"
                     for kind, v in ruled.items())


def explanation_lines(explanation: Mapping[str, Any]) -> list[str]:
    """The explanation as plain lines: per group, filters, nearest misses."""
    lines = [f"{explanation.get('hosts', 0)} host(s); placement offered "
             f"{explanation.get('offered_by_placement', 0)}"]
    for g in explanation.get("groups") or ():
        name = f"group {g['suffix']}" if g.get("suffix") else "unsuffixed group"
        ruled = _ruled_out(g.get("ruled_out") or {})
        lines.append(f"  {name} ({_resources(g)}): {g.get('fit', 0)} fit" + (f"; ruled out: {ruled}" if ruled else ""))
    request = explanation.get("request")
    if request and request.get("ruled_out"):
        traits = [*request.get("root_required", ()), *("!" + t for t in request.get("root_forbidden", ()))]
        lines.append(f"  root traits ({','.join(traits)}): {request.get('fit', 0)} fit; ruled out: "
                     f"{_ruled_out(request['ruled_out'])}")
    for f in explanation.get("filters") or ():
        if f["removed"]:
            lines.append(f"  {f['filter']} removed {f['removed']} of {f['before']} hosts")
    misses = explanation.get("nearest_misses") or []
    if misses:
        lines.append("nearest misses:")
        for m in misses:
            what = "; ".join(lk["detail"] for lk in m["lacks"])
            lines.append(f"  {m.get('host') or m['provider']}: {what}")
    return lines


class Refusal(CommandError):
    """``error: no valid host: ...`` on stderr, then what ruled the hosts out."""

    def __init__(self, message: str, lines: list[str]) -> None:
        super().__init__(message)
        self.lines = lines

    def show(self, file: Any = None) -> None:
        super().show(file)
        for line in self.lines:
            click.echo(line, err=True)


def refusal(error: CommandError, explanation: Mapping[str, Any], out: Output) -> CommandError:
    """The error to raise for a refusal: JSON and YAML print the explanation on stdout first."""
    if out.structured:
        out.document({"explanation": explanation})
        return error
    return Refusal(error.format_message(), explanation_lines(explanation))


def show_decision(result: Mapping[str, Any], out: Output) -> None:
    """A dry run's hosts and weights per weigher, one table per instance (text formats)."""
    for item in result.get("decision") or ():
        hosts = item.get("hosts") or []
        weighers = sorted({w for h in hosts for w in h["weights"]})
        # Weighers that gave every shown host 0 add nothing to read.
        weighers = [w for w in weighers if any(h["weights"].get(w) for h in hosts)]
        rows = [[h["host"], f"{h['weight']:.3f}", *(f"{h['weights'].get(w, 0.0):.3f}" for w in weighers)]
                for h in hosts]
        removed = ", ".join(f"{f['filter']} -{f['removed']}" for f in item.get("filters") or () if f["removed"])
        title = f"dry run: {item['instance']} -> {item['host']}" + (f" (filters: {removed})" if removed else "")
        Output(out.fmt if out.fmt in ("table", "csv", "value") else "table").listing(
            ("host", "weight", *weighers), rows, title=title)
