"""``allotment host topology ...``: register a host's NUMA cells, dedicated CPUs, page sizes and PCI devices by hand.

Until compute agents report it, an operator writes the document (YAML or JSON, described in
``allotment.scheduler.topology.host``) and ``set`` puts it in placement (VCPU, PCPU and
MEMORY_MB on the host's root provider, a child provider per PCI device) and in the registry.
It works on the registry's database (``allotment host --db URL``), not through the API.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import orjson

from allotment.cli.errors import CommandError
from allotment.cli.output import Output, output_options
from allotment.cli.session import DEFAULT_URL, Session
from allotment.scheduler.registry import Registry
from allotment.scheduler.topology.cpuspec import format_cpus
from allotment.scheduler.topology.host import HostTopology

__all__ = ["topology"]


def _registry(ctx: click.Context) -> Registry:
    db = getattr(ctx.obj, "db", None)  # the host group's session (its --db)
    if not db:
        raise click.UsageError("host topology works on the registry's database: give 'allotment host --db URL' "
                               "(env ALLOTMENT_SCHEDULER_DB)")
    registry = Registry.open(db)
    ctx.call_on_close(registry.close)
    return registry


def _summary(name: str, topo: HostTopology, claims: dict[str, Any]) -> dict[str, Any]:
    return {
        "host": name,
        "cells": [f"{c.id}: shared {format_cpus(c.cpus) or '-'}, dedicated {format_cpus(c.pcpus) or '-'}, "
                  f"{c.memory_mb} MB" + (f", pages {','.join(f'{p.size_kb}kB x{p.total}' for p in c.pages)}"
                                         if c.pages else "") for c in topo.cells],
        "vcpu": topo.total_cpus,
        "pcpu": topo.total_pcpus,
        "memory_mb": topo.total_memory_mb,
        "pci_devices": [f"{d.address} {d.vendor_id}:{d.product_id} {d.type} numa {d.numa_node}"
                        for d in topo.pci_devices],
        "pci_providers": dict(topo.pci_providers),
        "claims": {consumer: {"cells": [{"host_cell": c["host_cell"], "pinned": c["taken"],
                                          "memory_mb": c["memory_mb"], "pagesize_kb": c["pagesize_kb"]}
                                         for c in fit["cells"]], "devices": fit["devices"]}
                   for consumer, fit in sorted(claims.items())},
    }


@click.group("topology")
def topology() -> None:
    """A host's NUMA cells, dedicated CPUs, page sizes and PCI devices."""


@topology.command("set")
@click.argument("name")
@click.option("--file", "path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The topology document (YAML or JSON).")
@click.option("--placement-url", default=None, metavar="URL", help="The placement API to model the host in.")
@click.option("--placement-db", default=None, metavar="URL", help="Or placement in-process on this database.")
@output_options()
@click.pass_context
def set_topology(ctx: click.Context, name: str, path: Path, placement_url: str | None, placement_db: str | None,
                 out: Output) -> None:
    """Register host NAME's topology from a file, in placement and in the registry."""
    from allotment.scheduler.errors import SchedulerError
    from allotment.scheduler.topology.placement import register_topology

    if placement_url and placement_db:
        raise click.UsageError("give --placement-url or --placement-db, not both")
    text = path.read_text()
    try:
        import yaml

        data = yaml.safe_load(text) if path.suffix in (".yaml", ".yml") else orjson.loads(text)
    except Exception as exc:  # noqa: BLE001 - any parse error is the file's fault
        raise CommandError(f"cannot read {path}: {exc}") from None
    registry = _registry(ctx)
    placement = Session(url=placement_url or DEFAULT_URL, db=placement_db)
    ctx.call_on_close(placement.close)
    try:
        parsed = HostTopology.from_dict(data)
        synced, report = register_topology(placement.client, registry, name, parsed)
    except SchedulerError as exc:
        raise CommandError(f"{exc.detail} ({exc.code})") from None
    summary = _summary(name, synced, registry.get_topology(name)[1])
    summary["placement_writes"] = report.writes
    out.mapping(summary)


@topology.command("show")
@click.argument("name")
@output_options()
@click.pass_context
def show_topology(ctx: click.Context, name: str, out: Output) -> None:
    """Show host NAME's topology and what instances hold on it (pinned CPUs, pages, devices)."""
    from allotment.scheduler.errors import SchedulerError

    registry = _registry(ctx)
    try:
        topo, claims = registry.get_topology(name)
    except SchedulerError as exc:
        raise CommandError(f"{exc.detail} ({exc.code})") from None
    out.mapping(_summary(name, topo, claims))
