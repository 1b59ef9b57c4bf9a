"""``allotment bench``: run the benchmark workloads side by side and render the results."""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

import click

from allotment.bench.databases import BACKENDS
from allotment.bench.servers import repo_root

__all__ = ["bench"]

TARGETS = ("allotment", "upstream")


def _split(values: tuple[str, ...]) -> list[str]:
    return [part.strip() for v in values for part in v.split(",") if part.strip()]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def bench() -> None:
    """Benchmarks: allotment and upstream OpenStack Placement 16.0.0, side by side."""


@bench.command("list")
def list_workloads() -> None:
    """The workloads, and which are implemented."""
    from allotment.bench.workloads import REGISTRY

    for w in REGISTRY.values():
        click.echo(f"{w.name:10} {'ready' if w.ready else 'todo ':6} {w.summary}")


@bench.command("run")
@click.option("--workload", "-w", "workloads", multiple=True, default=("load",), show_default=True,
              help="Workload(s) to measure, repeatable or comma-separated; prerequisites run first as setup.")
@click.option("--providers", "-n", default=1000, show_default=True, help="Providers the load workload creates.")
@click.option("--concurrency", "-c", default=10, show_default=True, help="Concurrent clients.")
@click.option("--backend", type=click.Choice(BACKENDS), default="sqlite", show_default=True)
@click.option("--workers", default=2, show_default=True, help="Server worker processes (both servers).")
@click.option("--targets", "-t", default="allotment,upstream", show_default=True,
              help="Comma-separated: allotment, upstream.")
@click.option("--url-allotment", default=None, help="Measure an allotment already running here instead.")
@click.option("--url-upstream", default=None, help="Measure an upstream Placement already running here instead.")
@click.option("--repeat", "-r", default=1, show_default=True, help="Runs per target (fresh server each); medians.")
@click.option("--seed", default=1, show_default=True, help="Seed for provider uuids and aggregate/trait choices.")
@click.option("--requests", "requests_", default=20, show_default=True, help="Sequential requests per ac variant and per nested query.")
@click.option("--conc-requests", default=500, show_default=True, help="Total requests of ac-conc, and claims of claim-conc.")
@click.option("--claims", default=200, show_default=True, help="Sequential claims of claim.")
@click.option("--race-writers", default=10, show_default=True, help="Concurrent writers of race.")
@click.option("--race-claims", default=50, show_default=True, help="Claims per writer of race.")
@click.option("--trees", "-K", default=100, show_default=True, help="Compute trees of nested.")
@click.option("--explode-requests", default=3, show_default=True,
              help="Requests per explode variant (a variant stops at its first failure).")
@click.option("--explode-max-groups", default=8, show_default=True,
              help="Leave out explode variants with more VGPU groups than this (8: all).")
@click.option("--timeout", default=120.0, show_default=True,
              help="Client timeout (s) per request of claim, race, nested and explode.")
@click.option("--transport", default="inprocess://", show_default=True,
              help="How boot's conductor and computes talk: inprocess:// or amqp://user:pass@host:port/ (RabbitMQ).")
@click.option("--boot-processes", type=click.IntRange(min=0), default=0, show_default=True,
              help="boot over amqp://: worker processes, each a conductor and a share of the computes (0: none).")
@click.option("--arrivals", default=2000, show_default=True, help="Instances the simulate workload plays.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Directory for the JSON result [default: bench/results in the repository].")
@click.option("--no-save", is_flag=True, help="Print the tables only.")
@click.option("--label", default="", help="Free text stored with the result.")
@click.option("--upstream-venv", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Virtualenv holding upstream Placement (sets ALLOTMENT_UPSTREAM_VENV).")
def run_cmd(workloads: tuple[str, ...], providers: int, concurrency: int, backend: str, workers: int, targets: str,
            url_allotment: str | None, url_upstream: str | None, repeat: int, seed: int, requests_: int,
            conc_requests: int, claims: int, race_writers: int, race_claims: int, trees: int, explode_requests: int,
            explode_max_groups: int, timeout: float, transport: str, boot_processes: int, arrivals: int,
            out_dir: Path | None, no_save: bool, label: str,
            upstream_venv: Path | None) -> None:
    """Run workloads against each target: fresh database, start server, run, stop."""
    from rich.console import Console

    from allotment.bench.results import build_document, rich_tables, save_document
    from allotment.bench.runner import Target, run_benchmark
    from allotment.bench.workloads import Params, resolve

    names = _split((targets,))
    for n in names:
        if n not in TARGETS:
            raise click.BadParameter(f"unknown target {n!r}; choose from {', '.join(TARGETS)}", param_hint="--targets")
    if not names:
        raise click.BadParameter("no target given", param_hint="--targets")
    urls = {"allotment": url_allotment, "upstream": url_upstream}
    for n, url in urls.items():
        if url and n not in names:
            raise click.BadParameter(f"--url-{n} given but {n!r} is not in --targets", param_hint="--targets")
    try:
        order = resolve(_split(workloads))
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--workload") from exc
    if min(providers, concurrency, repeat, workers, requests_, conc_requests, claims, race_writers, race_claims, trees,
           arrivals,
           explode_requests, explode_max_groups) < 1 or timeout <= 0:
        raise click.BadParameter("counts must be at least 1 and --timeout above 0")
    if upstream_venv is not None:
        os.environ["ALLOTMENT_UPSTREAM_VENV"] = str(upstream_venv.resolve())

    target_list = [Target(n, urls[n]) for n in names]
    params = Params(providers=providers, concurrency=concurrency, seed=seed, requests=requests_,
                    conc_requests=conc_requests, claims=claims, race_writers=race_writers, race_claims=race_claims,
                    trees=trees, explode_requests=explode_requests, explode_max_groups=explode_max_groups,
                    timeout=timeout, transport=transport, boot_processes=boot_processes,
                    arrivals=arrivals)
    console = Console() if sys.stdout.isatty() else Console(width=120)
    err = Console(stderr=True)
    runs = run_benchmark(target_list, order, params, backend=backend, workers=workers, repeat=repeat,
                         progress=lambda msg: err.print(f"[dim]{msg}[/dim]"))
    doc = build_document(runs=runs, targets={t.name: t.url for t in target_list}, workloads=order, params=params,
                         backend=backend, workers=workers, repeat=repeat, label=label,
                         command=shlex.join(["allotment", "bench", *sys.argv[sys.argv.index("run"):]])
                         if "run" in sys.argv else "")
    for renderable in rich_tables(doc):
        console.print(renderable)
    if not no_save:
        path = save_document(doc, out_dir or repo_root() / "bench" / "results")
        err.print(f"result written to {path}")
    if any(r.get("error") for rs in runs.values() for r in rs):
        sys.exit(1)


@bench.command("table")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
def table_cmd(files: tuple[Path, ...]) -> None:
    """Render result files as one markdown table (for the README)."""
    from allotment.bench.results import load_document, markdown_table

    docs = []
    for f in files:
        try:
            docs.append(load_document(f))
        except ValueError as exc:
            raise click.ClickException(str(exc)) from exc
    docs.sort(key=lambda d: d["created"])
    click.echo(markdown_table(docs), nl=False)
