"""PNG plots of a results document (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["PANELS", "write_plot"]

#: (sample key, title, scale): one panel each, one line per configuration.
PANELS = (
    ("util_vcpu", "VCPU used (% of hosts up)", 100.0),
    ("util_memory", "MEMORY_MB used (% of hosts up)", 100.0),
    ("stranded_vcpu_pct", "stranded VCPU (% of capacity in service)", 1.0),
    ("stranded_memory_pct", "stranded MEMORY_MB (% of capacity in service)", 1.0),
    ("refused", "refusals (cumulative)", 1.0),
    ("hosts_empty", "empty hosts in service", 1.0),
)


def write_plot(document: dict[str, Any], path: str | Path) -> Path:
    """Draw every panel of ``PANELS`` over simulated time, one line per run; return the file written.

    Failures are shaded red and maintenance windows grey while they last.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    fig, axes = plt.subplots(3, 2, figsize=(12, 10), sharex=True)
    hours = max((r["samples"][-1]["t"] for r in document["runs"] if r["samples"]), default=0.0) > 3 * 3600
    scale_x = 3600.0 if hours else 1.0
    for ax, (key, title, scale) in zip(axes.flat, PANELS, strict=True):
        for run in document["runs"]:
            xs = [s["t"] / scale_x for s in run["samples"]]
            ax.plot(xs, [s[key] * scale for s in run["samples"]], label=run["label"], linewidth=1.2)
        # Host failures (red) and maintenance windows (grey) shaded where they last.
        for ev in document.get("events", ()):
            start = ev["at"] / scale_x
            end = (ev["at"] + ev["duration"]) / scale_x if ev.get("duration") else None
            colour = "tab:red" if ev["kind"] == "failure" else "grey"
            if end is None:
                ax.axvline(start, color=colour, linestyle="--", linewidth=0.8, alpha=0.6)
            else:
                ax.axvspan(start, end, color=colour, alpha=0.08)
        ax.set_title(title, fontsize=10)
        ax.grid(True, alpha=0.3)
    for ax in axes[-1]:
        ax.set_xlabel("simulated time (h)" if hours else "simulated time (s)")
    axes.flat[0].legend(fontsize=9)
    fleet = document["fleet"]
    fig.suptitle(f"{fleet['hosts']:,} hosts ({fleet['vcpus']} VCPU, {fleet['memory_mb']} MB), "
                 f"{len_arrivals(document)} arrivals, seed {document['seed']}", fontsize=11)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def len_arrivals(document: dict[str, Any]) -> str:
    n = document["workload"].get("arrivals")
    return f"{n:,}" if isinstance(n, int) else "?"
