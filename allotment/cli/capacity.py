"""``allotment capacity``: how many instances of a flavor fit right now, in total and by zone, aggregate, cell or host.

In-process (placement through ``--placement-url`` or ``--placement-db``, the registry through
``--db``) or from a running scheduler service (``--scheduler-url``: ``GET /capacity``).
"""

from __future__ import annotations

from typing import Any

import click

from allotment.cli.errors import coded
from allotment.cli.output import Output, output_options
from allotment.cli.scheduling import (
    _CONFIG,
    _failures,
    _given,
    _load_config,
    _open_registry,
    _pairs,
    _placement_options,
    _registry_option,
)
from allotment.cli.session import DEFAULT_URL, Session
from allotment.scheduler.capacity import BY
from allotment.scheduler.client import connect as connect_scheduler
from allotment.scheduler.service import Scheduler
from allotment.scheduler.spec import Flavor, Image, InvalidRequestSpec, RequestSpec

__all__ = ["capacity"]

FIELDS = ("key", "instances", "hosts")
_FLAVOR_KEYS = ("vcpus", "memory_mb", "root_gb", "ephemeral_gb", "swap")


def _flavor(text: str) -> dict[str, int]:
    """``vcpus=2,memory_mb=4096[,root_gb=20,ephemeral_gb=0,swap=0]``."""
    out: dict[str, int] = {}
    for item in text.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep or key not in _FLAVOR_KEYS:
            raise click.BadParameter(f"{item!r}: expected KEY=N with KEY one of {', '.join(_FLAVOR_KEYS)}",
                                     param_hint="'--flavor'")
        try:
            out[key] = int(value)
        except ValueError:
            raise click.BadParameter(f"{item!r}: {value!r} is not an integer", param_hint="'--flavor'") from None
    for key in ("vcpus", "memory_mb"):
        if key not in out:
            raise click.BadParameter(f"{key} is required", param_hint="'--flavor'")
    return out


def _show(answer: dict[str, Any], out: Output) -> None:
    if out.structured and not out.columns:
        out.document(answer)
        return
    exact = "" if answer["exact"] else " (not exact: counted by placing greedily)"
    title = (f"{answer['total']} instance(s) fit on {answer['fitting_hosts']} of {answer['hosts']} host(s)"
             f"{exact}")
    rows = answer["groups"] or [{"key": "(all)", "instances": answer["total"], "hosts": answer["fitting_hosts"]}]
    out.listing(FIELDS, rows, title=title)
    if out.fmt == "table":
        excluded = answer["excluded"]
        for name, n in excluded["filters"].items():
            click.echo(f"{name} removed {n} host(s)")
        for kind, n in excluded["placement"].items():
            click.echo(f"{n} host(s) fit none: {kind.replace('_', ' ')}")
        click.echo(f"{answer['timings']['total'] * 1000:.1f} ms")


@click.command("capacity")
@click.option("--flavor", "flavor_text", required=True, metavar="vcpus=N,memory_mb=N[,root_gb=N,...]",
              help="The flavor: vcpus and memory_mb, optionally root_gb, ephemeral_gb, swap.")
@click.option("--extra-spec", "extra_specs", multiple=True, metavar="KEY=VALUE",
              help='Flavor extra spec, e.g. "resources1:VGPU=1", "trait:HW_CPU_X86_AVX2=required" (repeatable).')
@click.option("--image-property", "image_properties", multiple=True, metavar="KEY=VALUE",
              help="Image property (repeatable).")
@click.option("--availability-zone", default=None, metavar="AZ", help="Count only this zone.")
@click.option("--project-id", default="capacity", show_default=True,
              help="The project asking (tenant aggregates).")
@click.option("--by", type=click.Choice(BY), default=None, help="Group the count by zone, aggregate, cell or host.")
@output_options(*FIELDS)
@_placement_options
@_registry_option
@click.option("--scheduler-url", envvar="ALLOTMENT_SCHEDULER_URL", default=None, metavar="URL",
              help="Ask this scheduler service (GET /capacity) instead of counting here (env ALLOTMENT_SCHEDULER_URL).")
@_CONFIG
@click.pass_context
def capacity(ctx: click.Context, flavor_text: str, extra_specs: tuple[str, ...], image_properties: tuple[str, ...],
             availability_zone: str | None, project_id: str, by: str | None, out: Output,
             placement_url: str | None, placement_db: str | None, db: str | None, scheduler_url: str | None,
             config_file: str | None) -> None:
    """How many instances of a flavor fit right now, and where.

    Reserved amounts, allocation ratios, min/max units and step sizes, nested and sharing
    providers, disabled hosts and the enabled filters are honoured; --by groups the count by
    availability zone, host aggregate, cell or host.
    """
    sizes = _flavor(flavor_text)
    extra = _pairs(extra_specs, "'--extra-spec'")
    props = _pairs(image_properties, "'--image-property'")
    local = [name for name in ("placement_url", "placement_db", "db", "config_file") if _given(ctx, name)]
    if scheduler_url and local and not _given(ctx, "scheduler_url"):
        scheduler_url = None  # options typed on the command line beat ALLOTMENT_SCHEDULER_URL
    if scheduler_url:
        if local:
            raise click.UsageError("--scheduler-url asks a service that has its own placement and registry")
        params: list[tuple[str, str]] = [(k, str(v)) for k, v in sizes.items()]
        params += [("extra_spec", f"{k}={v}") for k, v in extra.items()]
        params += [("image_property", f"{k}={v}") for k, v in props.items()]
        params += [(k, v) for k, v in (("availability_zone", availability_zone), ("by", by),
                                       ("project_id", project_id)) if v]
        with _failures("the scheduler", scheduler_url), connect_scheduler(scheduler_url) as client:
            answer: dict[str, Any] = client.capacity(params)
    else:
        try:
            spec = RequestSpec.from_flavor(Flavor(name="capacity", extra_specs=extra, **sizes),
                                           Image(properties=props), project_id=project_id, user_id="capacity",
                                           availability_zone=availability_zone)
        except InvalidRequestSpec as exc:
            raise coded(f"invalid request: {exc}", "scheduler.invalid_request_spec") from None
        config = _load_config(ctx, config_file, db, placement_url, placement_db)
        session = Session(url=config.placement_url or DEFAULT_URL, db=config.placement_db)
        registry = _open_registry(config)
        try:
            with _failures("placement", session.target):
                answer = Scheduler(session.client, registry, config).capacity(spec, by=by).to_dict()
        finally:
            registry.close()
            session.close()
    _show(answer, out)
