"""The benchmark result document: building it, saving it, and rendering it as tables.

A document is self-describing: it carries the figure definitions (unit,
direction, how repeats combine) next to the numbers, so old files still render
after workloads change.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import sys
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import orjson

from allotment import __version__
from allotment.bench.servers import UPSTREAM_REQUIREMENTS
from allotment.bench.stats import median, ratio
from allotment.bench.workloads import COMMON_FIGURES, Figure, Params, Workload

__all__ = [
    "RSS_FIGURES",
    "SCHEMA",
    "build_document",
    "compare_answers",
    "compute_ratios",
    "load_document",
    "machine_info",
    "markdown_table",
    "rich_tables",
    "save_document",
    "summarize_runs",
]

SCHEMA = "allotment-bench/1"
RSS_KEY = "rss"
RSS_FIGURES = (
    Figure("peak_rss_total_mb", "MB", "lower", label="peak RSS, server + workers"),
    Figure("peak_pss_total_mb", "MB", "lower", label="peak PSS, server + workers"),
    Figure("peak_hwm_max_mb", "MB", "lower", label="peak RSS, largest process"),
)
TARGET_ORDER = ("allotment", "upstream")
RATIO_NOTE = ("Ratio: how many times better allotment did (upstream/allotment for times and memory, "
              "allotment/upstream for rates).")


def machine_info() -> dict[str, Any]:
    info: dict[str, Any] = {
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu_model": None,
        "memory_mb": None,
    }
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu_model"] = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                info["memory_mb"] = int(line.split()[1]) // 1024
                break
    except OSError:
        pass
    return info


def _figure_specs(workloads: Iterable[Workload]) -> dict[str, dict[str, dict[str, Any]]]:
    specs = {w.name: {f.key: asdict(f) for f in (*w.figures, *COMMON_FIGURES)} for w in workloads}
    specs[RSS_KEY] = {f.key: asdict(f) for f in RSS_FIGURES}
    return specs


def _combine(values: list[Any], agg: str) -> float | int | None:
    numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if not numbers:
        return None
    if agg == "sum":
        return sum(numbers)
    mid = median(numbers)
    return int(mid) if all(isinstance(n, int) for n in numbers) and mid.is_integer() else mid


def summarize_runs(runs: Sequence[dict[str, Any]], specs: dict[str, dict[str, dict[str, Any]]]) -> dict[str, Any]:
    """Per workload and figure, the runs combined (median, or sum for error counts)."""
    summary: dict[str, dict[str, Any]] = {}
    for group, figures in specs.items():
        if group == RSS_KEY:
            per_run = [r.get("rss") or {} for r in runs]
        else:
            per_run = [r["workloads"][group]["figures"] for r in runs if group in r.get("workloads", {})]
            if not per_run:
                continue
        summary[group] = {key: _combine([p.get(key) for p in per_run], spec["agg"]) for key, spec in figures.items()}
    return summary


def compute_ratios(summaries: dict[str, dict[str, Any] | None], specs: dict[str, dict[str, dict[str, Any]]]) -> dict[str, Any]:
    """allotment vs upstream per figure that has a direction; > 1 always means allotment did better."""
    a, u = summaries.get("allotment") or {}, summaries.get("upstream") or {}
    out: dict[str, dict[str, Any]] = {}
    for group, figures in specs.items():
        for key, spec in figures.items():
            if spec["better"] is None:
                continue
            value = ratio(a.get(group, {}).get(key), u.get(group, {}).get(key), spec["better"])
            if value is not None:
                formula = "upstream/allotment" if spec["better"] == "lower" else "allotment/upstream"
                out.setdefault(group, {})[key] = {"value": value, "formula": formula}
    return out


def compare_answers(runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Compare what the two servers answered, run by run (run i of each target holds the same data).

    Every ``*.candidates`` figure is compared, and every answer digest a workload
    keeps in ``details["digests"]`` (the full answer, order-free). ``one_sided``
    lists the counts only one server produced (the other failed or varied).
    """
    out: dict[str, Any] = {"compared": 0, "mismatches": [], "one_sided": []}
    for a, u in zip(runs.get("allotment") or [], runs.get("upstream") or []):
        if a.get("error") or u.get("error"):
            continue
        for wname, aw in a.get("workloads", {}).items():
            uw = u.get("workloads", {}).get(wname)
            if uw is None:
                continue
            where = {"workload": wname, "run": a.get("run", 0)}
            for key, av in aw["figures"].items():
                if not key.endswith(".candidates"):
                    continue
                uv = uw["figures"].get(key)
                if av is None and uv is None:
                    continue
                if av is None or uv is None:
                    out["one_sided"].append({**where, "figure": key, "allotment": av, "upstream": uv})
                    continue
                out["compared"] += 1
                if av != uv:
                    out["mismatches"].append({**where, "figure": key, "allotment": av, "upstream": uv})
            a_digests = aw.get("details", {}).get("digests") or {}
            u_digests = uw.get("details", {}).get("digests") or {}
            for query in sorted(set(a_digests) & set(u_digests)):
                out["compared"] += 1
                if a_digests[query] != u_digests[query]:
                    out["mismatches"].append({**where, "figure": f"{query} answer digest",
                                              "allotment": a_digests[query], "upstream": u_digests[query]})
    return out


def _mismatch_lines(doc: dict[str, Any]) -> list[str]:
    answers = doc.get("answers") or {}
    return [f"ANSWERS DIFFER: {m['workload']} {m['figure']} (run {m['run'] + 1}): allotment {m['allotment']}, "
            f"upstream {m['upstream']}" for m in answers.get("mismatches", [])]


def _one_sided_lines(doc: dict[str, Any]) -> list[str]:
    answers = doc.get("answers") or {}
    return [f"only one server answered: {m['workload']} {m['figure']} (run {m['run'] + 1}): "
            f"allotment {m['allotment']}, upstream {m['upstream']}" for m in answers.get("one_sided", [])]


def build_document(
    *,
    runs: dict[str, list[dict[str, Any]]],
    targets: dict[str, str | None],
    workloads: Sequence[tuple[Workload, bool]],
    params: Params,
    backend: str,
    workers: int,
    repeat: int,
    label: str = "",
    command: str = "",
    created: dt.datetime | None = None,
) -> dict[str, Any]:
    specs = _figure_specs(w for w, _ in workloads)
    summaries = {}
    target_docs = {}
    for name, target_runs in runs.items():
        ok = [r for r in target_runs if not r.get("error")]
        summaries[name] = summarize_runs(ok, specs) if ok else None
        target_docs[name] = {
            "source": "url" if targets.get(name) else "started",
            "url": targets.get(name),
            "summary": summaries[name],
            "runs_ok": len(ok),
            "runs": list(target_runs),
        }
    created = created or dt.datetime.now(dt.UTC)
    return {
        "schema": SCHEMA,
        "created": created.isoformat(timespec="seconds"),
        "label": label,
        "command": command,
        "workloads": [w.name for w, measured in workloads if measured],
        "setup_workloads": [w.name for w, measured in workloads if not measured],
        "params": {**asdict(params), "backend": backend, "workers": workers, "repeat": repeat},
        "machine": machine_info(),
        "versions": {
            "allotment": __version__,
            "upstream": next(r for r in UPSTREAM_REQUIREMENTS if r.startswith("openstack-placement")),
        },
        "figures": specs,
        "targets": target_docs,
        "ratios": compute_ratios(summaries, specs),
        "answers": compare_answers(runs),
    }


def save_document(doc: dict[str, Any], out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = doc["created"].replace(":", "").replace("-", "").replace("+0000", "Z")
    p = doc["params"]
    trees = f"-k{p['trees']}" if "nested" in doc["workloads"] else ""
    name = f"{stamp}-{'+'.join(doc['workloads'])}-{p['backend']}-n{p['providers']}{trees}-w{p['workers']}.json"
    path = out_dir / name
    tmp = path.with_suffix(".json.tmp")
    tmp.write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2))
    tmp.rename(path)
    return path


def load_document(path: Path) -> dict[str, Any]:
    doc = orjson.loads(path.read_bytes())
    if doc.get("schema") != SCHEMA:
        raise ValueError(f"{path}: not an allotment benchmark result (schema {doc.get('schema')!r})")
    return doc


# --- rendering -------------------------------------------------------------------------------------------------


def fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "—"
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        if unit in ("ms", "s") and abs(value) < 10:
            return f"{value:.2f}" if unit == "s" or abs(value) >= 1 else f"{value:.3f}"
        if abs(value) >= 100:
            return f"{value:.0f}"
        return f"{value:.1f}"
    return str(value)


def fmt_ratio(entry: dict[str, Any] | None) -> str:
    return "—" if not entry else f"{entry['value']:.2f}×"


def _rows(doc: dict[str, Any], *, table_only: bool) -> Iterable[tuple[str, str, dict[str, Any], dict[str, Any]]]:
    """(group, key, spec, {target: value}) for the measured workloads and memory, in definition order."""
    groups = [*doc["workloads"], RSS_KEY]
    for group in groups:
        for key, spec in doc["figures"].get(group, {}).items():
            if table_only and spec["better"] is None and not (
                    key == "non_2xx" or key.endswith(".candidates") or spec.get("show")):
                continue
            values = {}
            for name, target in doc["targets"].items():
                summary = target.get("summary") or {}
                values[name] = summary.get(group, {}).get(key)
            if all(v is None for v in values.values()):
                continue
            yield group, key, spec, values


def _label(key: str, spec: dict[str, Any], params: dict[str, Any]) -> str:
    label = spec["label"] or key
    if spec["agg"] == "sum" and params.get("repeat", 1) > 1:
        label += ", all runs"
    return label


def _scale(doc: dict[str, Any]) -> str:
    p = doc["params"]
    out = f"N={p['providers']}"
    if "nested" in doc["workloads"] and "trees" in p:
        out += f", K={p['trees']}"
    return out


def _target_names(doc: dict[str, Any]) -> list[str]:
    names = list(doc["targets"])
    return sorted(names, key=lambda n: (TARGET_ORDER.index(n) if n in TARGET_ORDER else len(TARGET_ORDER), n))


def rich_tables(doc: dict[str, Any]) -> list[Any]:
    """Renderables for the console: one table per workload (plus memory), then any errors."""
    from rich.table import Table
    from rich.text import Text

    names = _target_names(doc)
    p = doc["params"]
    out: list[Any] = []
    current = None
    table = None
    for group, key, spec, values in _rows(doc, table_only=False):
        if group != current:
            current = group
            title = "memory" if group == RSS_KEY else group
            table = Table(title=f"{title} — {p['backend']}, {p['workers']} workers, {_scale(doc)}, "
                                f"c={p['concurrency']}, repeat={p['repeat']}", title_justify="left")
            table.add_column("figure")
            table.add_column("unit")
            for n in names:
                table.add_column(n, justify="right")
            table.add_column("ratio", justify="right")
            out.append(table)
        entry = doc["ratios"].get(group, {}).get(key)
        assert table is not None
        texts = [fmt(values.get(n), spec["unit"]) for n in names]
        cells: list[str | Text] = list(texts)
        if key == "non_2xx":
            cells = [Text(c, style="bold red") if c not in ("0", "—") else c for c in texts]
        ratio_cell = "" if spec["better"] is None else fmt_ratio(entry)
        table.add_row(_label(key, spec, p), spec["unit"], *cells, ratio_cell)
    if doc["ratios"]:
        out.append(Text(RATIO_NOTE, style="dim"))
    for line in _mismatch_lines(doc):
        out.append(Text(line, style="bold red"))
    for line in _one_sided_lines(doc):
        out.append(Text(line, style="yellow"))
    answers = doc.get("answers") or {}
    if answers.get("compared") and not answers.get("mismatches"):
        out.append(Text(f"Both servers gave the same answers ({answers['compared']} comparisons).", style="dim"))
    for n in names:
        target = doc["targets"][n]
        for run in target["runs"]:
            problems = [f"void attempt, run again: {a['error']}" for a in run.get("failed_attempts", [])]
            if run.get("error"):
                problems.append(run["error"])
            for wname, w in run.get("workloads", {}).items():
                if w["figures"].get("non_2xx"):
                    counts = w["details"].get("status_counts")
                    errs = "\n".join(f"    {e['method']} {e['path']} -> {e['status']}: {e['body'][:300]}"
                                     for e in w["details"].get("errors", []))
                    problems.append(f"{wname}: {w['figures']['non_2xx']} non-2xx, status counts {counts}\n{errs}")
            for problem in problems:
                out.append(Text(f"{n} run {run['run'] + 1}: {problem}", style="yellow"))
    return out


def markdown_table(docs: Sequence[dict[str, Any]]) -> str:
    """Markdown for the README: per result document a line saying what ran where, then its table."""
    out: list[str] = []
    for doc in docs:
        p, m = doc["params"], doc["machine"]
        runs = ", ".join(f"{n} {doc['targets'][n]['runs_ok']}/{p['repeat']}" for n in _target_names(doc))
        out += [
            f"**{doc['created']}**: {p['backend']}, {p['workers']} workers, {_scale(doc)}, "
            f"c={p['concurrency']}; runs ok: {runs} (medians); {m.get('cores')} cores ({m.get('cpu_model')}), "
            f"Python {m.get('python')}, {doc['versions']['upstream']}" + (f"; {doc['label']}" if doc["label"] else ""),
            "",
            "| workload | figure | allotment | upstream | ratio |",
            "| --- | --- | ---: | ---: | ---: |",
        ]
        for group, key, spec, values in _rows(doc, table_only=True):
            unit = f" ({spec['unit']})" if spec["unit"] else ""
            ratio_cell = "" if spec["better"] is None else fmt_ratio(doc["ratios"].get(group, {}).get(key))
            out.append(
                f"| {'memory' if group == RSS_KEY else group} | {_label(key, spec, p)}{unit} | "
                f"{fmt(values.get('allotment'), spec['unit'])} | {fmt(values.get('upstream'), spec['unit'])} | "
                f"{ratio_cell} |"
            )
        out.append("")
        notes = [f"**{line}**" for line in _mismatch_lines(doc)] + _one_sided_lines(doc)
        if notes:
            out += [*(f"- {n}" for n in notes), ""]
    out.append(f"{RATIO_NOTE} Memory: peak over the run, server process plus workers.")
    return "\n".join(out) + "\n"
