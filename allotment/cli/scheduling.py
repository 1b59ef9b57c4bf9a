"""``allotment schedule`` and ``allotment scheduler serve``: the scheduler from the command line.

``schedule`` places instances and prints, per instance, the host it got (its resources
already claimed in placement) and the alternates to retry on. It runs the scheduler
in-process, over a placement client (``--placement-url``, or ``--placement-db`` for the
direct client) and the host registry database (``--db``), or asks a running scheduler
service (``--scheduler-url``: ``POST /select_destinations``). ``scheduler serve`` runs
that service under gunicorn.

Both are exported (``schedule``, ``scheduler``) for ``main.py`` to register.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import re
from collections.abc import Iterable, Iterator
from typing import Any

import click
import httpx

from allotment.cli.decision import refusal, show_decision
from allotment.cli.door import door_options, door_settings
from allotment.cli.errors import coded, unreachable
from allotment.cli.output import Output, output_options
from allotment.cli.session import DEFAULT_URL, CommandError, Session, placement_failure
from allotment.client import PlacementError
from allotment.infra.launcher import ServeOptions, serve_wsgi
from allotment.infra.logs import configure_logging
from allotment.scheduler import factory
from allotment.scheduler.client import connect as connect_scheduler
from allotment.scheduler.config import SchedulerConfig
from allotment.scheduler.errors import SchedulerError, kind_of
from allotment.scheduler.registry import Registry
from allotment.scheduler.service import Scheduler
from allotment.scheduler.spec import Flavor, Image, InvalidRequestSpec, RequestSpec

__all__ = ["schedule", "scheduler"]

DEFAULT_REGISTRY_DB = SchedulerConfig.db_url
SELECTION_FIELDS = ("instance", "host", "node", "provider", "alternates")
STAGES = ("request_filters", "placement_query", "host_states", "filtering", "weighing", "claim", "total")
_SPEC_FLAGS = ("vcpus", "memory_mb", "root_gb", "ephemeral_gb", "swap", "flavor_name", "extra_specs",
               "image_properties", "image_id", "num_instances", "project_id", "user_id", "availability_zone", "hints",
               "group")


def _pair(item: str, hint: str) -> tuple[str, str]:
    key, sep, value = item.partition("=")
    if not sep or not key:
        raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint=hint)
    return key, value


def _pairs(values: Iterable[str], hint: str) -> dict[str, str]:
    return dict(_pair(item, hint) for item in values)


def _hints(values: Iterable[str]) -> dict[str, list[str]]:
    """Repeated ``--hint KEY=VALUE`` gather into lists (``different_host`` names several hosts)."""
    out: dict[str, list[str]] = {}
    for item in values:
        key, value = _pair(item, "'--hint'")
        out.setdefault(key, []).append(value)
    return out


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _given(ctx: click.Context, name: str) -> bool:
    return ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE


def _flag(ctx: click.Context, name: str) -> str:
    """The option's name on the command line (``--extra-spec`` for ``extra_specs``)."""
    param = next(p for p in ctx.command.params if p.name == name)
    return next((o for o in param.opts if o.startswith("--")), param.opts[0])


def _placement_flags(ctx: click.Context, url: str | None, db: str | None) -> tuple[str | None, str | None]:
    """At most one of (url, db) of placement: a flag beats the environment."""
    if url and db:
        url_flag, db_flag = _given(ctx, "placement_url"), _given(ctx, "placement_db")
        if url_flag == db_flag:
            raise click.UsageError("give --placement-url or --placement-db, not both")
        url, db = (url, None) if url_flag else (None, db)
    return url, db


def _load_config(ctx: click.Context, config_file: str | None, db: str | None, placement_url: str | None,
                 placement_db: str | None) -> SchedulerConfig:
    """The scheduler's configuration: flags, then the environment, then the file; HTTP placement by default."""
    url, pdb = _placement_flags(ctx, placement_url, placement_db)
    try:
        return factory.load_service_config(config_file, db_url=db, placement_url=url, placement_db=pdb)
    except (OSError, ValueError, TypeError) as exc:
        raise click.UsageError(f"configuration: {_first_line(exc)}") from exc


# ---- the request -----------------------------------------------------------------------------


def _spec_from_file(path: str) -> RequestSpec:
    try:
        with open(path, "rb") as f:
            return RequestSpec.from_json(f.read())
    except OSError as exc:
        raise click.BadParameter(f"cannot read {path}: {exc.strerror or exc}", param_hint="'--spec'") from None
    except InvalidRequestSpec as exc:
        raise coded(f"invalid request spec in {path}: {exc}", "scheduler.invalid_request_spec") from None


def _spec_from_flags(flags: dict[str, Any]) -> RequestSpec:
    if flags["vcpus"] is None or flags["memory_mb"] is None:
        raise click.UsageError("give --vcpus and --memory-mb (the flavor), or --spec FILE")
    flavor = Flavor(name=flags["flavor_name"], vcpus=flags["vcpus"], memory_mb=flags["memory_mb"],
                    root_gb=flags["root_gb"], ephemeral_gb=flags["ephemeral_gb"], swap=flags["swap"],
                    extra_specs=_pairs(flags["extra_specs"], "'--extra-spec'"))
    image = Image(id=flags["image_id"], properties=_pairs(flags["image_properties"], "'--image-property'"))
    hints = _hints(flags["hints"])
    if flags["group"] is not None:
        # The scheduler reads the group (policy, members) from its registry.
        if hints.get("group", [flags["group"]]) != [flags["group"]]:
            raise click.UsageError("--group and --hint group=... name different server groups")
        hints["group"] = [flags["group"]]
    try:
        return RequestSpec.from_flavor(flavor, image, project_id=flags["project_id"], user_id=flags["user_id"],
                                       hints=hints, num_instances=flags["num_instances"],
                                       availability_zone=flags["availability_zone"])
    except InvalidRequestSpec as exc:
        raise coded(f"invalid request: {exc}", "scheduler.invalid_request_spec") from None


# ---- output ----------------------------------------------------------------------------------


def _alternate(sel: dict[str, Any]) -> str:
    return sel["host"] if sel.get("nodename") in (None, sel["host"]) else f"{sel['host']} ({sel['nodename']})"


def _show(result: dict[str, Any], out: Output) -> None:
    """JSON and YAML: the whole result. Otherwise a row per instance, and in a table the stage timings."""
    if out.structured and not out.columns:
        out.document(result)
        return
    rows = [[instance, chosen["host"], chosen.get("nodename"), chosen.get("compute_node_uuid"),
             [_alternate(s) for s in alternates]]
            for instance, (chosen, *alternates) in zip(result["instance_uuids"], result["selections"], strict=True)]
    dry = "dry run, nothing claimed: " if result.get("dry_run") else ""
    out.listing(SELECTION_FIELDS, rows, title=f"{dry}reservation {result['reservation_id']}")
    if result.get("dry_run"):
        show_decision(result, out)
    if out.fmt == "table":
        seconds = result.get("timings") or {}
        stages = [s for s in [*STAGES, *sorted(set(seconds) - set(STAGES))] if s in seconds]
        Output("table").listing(("stage", "ms"), [[s, f"{seconds[s] * 1000:.1f}"] for s in stages], title="timings")


# ---- running it ------------------------------------------------------------------------------


@contextlib.contextmanager
def _failures(service: str, where: str, out: Output | None = None) -> Iterator[None]:
    """What goes wrong while scheduling, as ``error: <detail> (<code>)`` on stderr and exit status 1.

    ``service`` at ``where``: what the command talks to, named when it cannot be reached.
    A refusal's explanation follows the error line (``out``: JSON or YAML put it on stdout).
    """
    try:
        yield
    except SchedulerError as exc:
        label = kind_of(type(exc)).label  # the one table of scheduler errors
        error = coded(f"{label}: {exc.reason}" if label else exc.detail, exc.code)
        explanation = getattr(exc, "explanation", None)
        if out is not None and explanation:
            raise refusal(error, explanation, out) from None
        raise error from None
    except PlacementError as exc:
        raise CommandError(f"placement: {placement_failure(exc)}") from None
    except httpx.TransportError as exc:
        raise unreachable(service, where, exc) from None


def _open_registry(config: SchedulerConfig) -> Registry:
    try:
        return factory.open_registry(config)
    except Exception as exc:  # any driver or URL error: the user needs the URL and the reason
        raise CommandError(f"cannot open the registry database {_hide_password(config.db_url)}: "
                           f"{_first_line(exc)}") from None


def _hide_password(url: str) -> str:
    return re.sub(r"(//[^:/@]+:)[^@/]*@", r"\1***@", url)


def _schedule_here(spec: RequestSpec, alternates: bool, config: SchedulerConfig, dry_run: bool = False,
                   out: Output | None = None) -> dict[str, Any]:
    """Run the scheduler in this process; the result as ``ScheduleResult.to_dict()``."""
    session = Session(url=config.placement_url or DEFAULT_URL, db=config.placement_db)
    registry = _open_registry(config)
    try:
        with _failures("placement", session.target, out):
            return Scheduler(session.client, registry, config).select_destinations(
                spec, return_alternates=alternates, dry_run=dry_run).to_dict()
    finally:
        registry.close()
        session.close()


def _schedule_remote(spec: RequestSpec, alternates: bool, url: str, dry_run: bool = False,
                     out: Output | None = None) -> dict[str, Any]:
    """Ask the scheduler service at ``url`` (``POST /select_destinations``)."""
    # The client raises the scheduler's own exceptions (by the answer's code), shown as here.
    with _failures("the scheduler", url, out), connect_scheduler(url) as client:
        answer: dict[str, Any] = client.select_destinations(spec.to_dict(), return_alternates=alternates,
                                                            dry_run=dry_run)
    return answer


def _placement_options(func: Any) -> Any:
    func = click.option("--placement-db", envvar="ALLOTMENT_DB", default=None, metavar="URL",
                        help="Run placement in-process on this database (env ALLOTMENT_DB).")(func)
    return click.option("--placement-url", envvar="ALLOTMENT_URL", default=None, metavar="URL",
                        help=f"Placement API endpoint (env ALLOTMENT_URL; default {DEFAULT_URL}).")(func)


def _registry_option(func: Any) -> Any:
    return click.option("--db", "db", envvar="ALLOTMENT_SCHEDULER_DB", default=None, metavar="URL",
                        help=f"The scheduler's registry database (env ALLOTMENT_SCHEDULER_DB; "
                             f"default {DEFAULT_REGISTRY_DB}).")(func)


_CONFIG = click.option("--config", "config_file", default=None, type=click.Path(exists=True, dir_okay=False),
                       help="TOML file with a [scheduler] table (filters, weighers, max_attempts, ...); "
                            "serve also reads [scheduler.api] (limits) and [logging].")


@click.command("schedule")
@click.option("--vcpus", "--flavor-vcpus", "vcpus", type=click.IntRange(1), default=None, help="Flavor VCPUs.")
@click.option("--memory-mb", type=click.IntRange(1), default=None, help="Flavor memory (MiB).")
@click.option("--root-gb", type=click.IntRange(0), default=0, show_default=True, help="Flavor root disk (GiB).")
@click.option("--ephemeral-gb", type=click.IntRange(0), default=0, show_default=True,
              help="Flavor ephemeral disk (GiB).")
@click.option("--swap", type=click.IntRange(0), default=0, show_default=True, help="Flavor swap (MiB).")
@click.option("--flavor-name", default="cli", show_default=True, help="Flavor name (recorded with the instances).")
@click.option("--extra-spec", "extra_specs", multiple=True, metavar="KEY=VALUE",
              help='Flavor extra spec, e.g. "resources:VGPU=1", "trait:HW_CPU_X86_AVX2=required" (repeatable).')
@click.option("--image-property", "image_properties", multiple=True, metavar="KEY=VALUE",
              help='Image property, e.g. "hw_architecture=x86_64" (repeatable).')
@click.option("--image-id", default=None, help="Image id (recorded with the instances).")
@click.option("--num-instances", "-n", type=click.IntRange(1), default=1, show_default=True)
@click.option("--project-id", default="admin", show_default=True)
@click.option("--user-id", default="admin", show_default=True)
@click.option("--availability-zone", default=None, metavar="AZ[:HOST[:NODE]]")
@click.option("--hint", "hints", multiple=True, metavar="KEY=VALUE",
              help='Scheduler hint, e.g. "different_host=<instance uuid>" (repeatable; repeats gather).')
@click.option("--group", default=None, metavar="UUID", help="Server group (from the registry) the instances join.")
@click.option("--spec", "spec_file", default=None, type=click.Path(dir_okay=False),
              help="A RequestSpec JSON file instead of the flavor and image options.")
@click.option("--no-alternates", is_flag=True, help="Only the chosen host per instance.")
@click.option("--dry-run", is_flag=True,
              help="Decide without claiming or recording anything; show the weights per weigher.")
@output_options(*SELECTION_FIELDS)
@_placement_options
@_registry_option
@click.option("--scheduler-url", envvar="ALLOTMENT_SCHEDULER_URL", default=None, metavar="URL",
              help="Ask this scheduler service instead of scheduling here (env ALLOTMENT_SCHEDULER_URL).")
@_CONFIG
@click.pass_context
def schedule(ctx: click.Context, spec_file: str | None, no_alternates: bool, dry_run: bool, out: Output,
             placement_url: str | None,
             placement_db: str | None, db: str | None, scheduler_url: str | None, config_file: str | None,
             **flags: Any) -> None:
    """Place instances: claim a host for each (plus alternates) and show where they went.

    The flavor comes from --vcpus and --memory-mb (and the other flavor options), or the
    whole request from --spec FILE. Prints per instance the chosen host, its node and root
    provider and the alternates, then the time each stage took (-f json or yaml: the whole
    result). --dry-run: the same decision with nothing claimed, plus per instance the best
    hosts' weights per weigher. When nothing fits: what ruled the hosts out (per request
    group, per filter, the nearest misses), then "error: no valid host: <reason>
    (scheduler.no_valid_host)" and exit status 1.
    """
    if spec_file is not None:
        extra = [name for name in _SPEC_FLAGS if _given(ctx, name)]
        if extra:
            raise click.UsageError(f"--spec FILE is the whole request; leave out {_flag(ctx, extra[0])}")
        spec = _spec_from_file(spec_file)
    else:
        spec = _spec_from_flags(flags)
    local = [name for name in ("placement_url", "placement_db", "db", "config_file") if _given(ctx, name)]
    if scheduler_url and local and not _given(ctx, "scheduler_url"):
        scheduler_url = None  # options typed on the command line beat ALLOTMENT_SCHEDULER_URL
    if scheduler_url:
        if local:
            raise click.UsageError(f"--scheduler-url asks a service that has its own placement, registry and "
                                   f"configuration; leave out {_flag(ctx, local[0])}")
        result = _schedule_remote(spec, not no_alternates, scheduler_url, dry_run, out)
    else:
        config = _load_config(ctx, config_file, db, placement_url, placement_db)
        result = _schedule_here(spec, not no_alternates, config, dry_run, out)
    _show(result, out)


# ---- the service -----------------------------------------------------------------------------


@click.group("scheduler", context_settings={"help_option_names": ["-h", "--help"]})
def scheduler() -> None:
    """The scheduler service (POST /select_destinations, /migrations, and the host registry API)."""


def _prepare(config: SchedulerConfig) -> None:
    """What the workers share, done once before they fork (``factory.prepare``), with the CLI's errors."""
    try:
        factory.prepare(config)
    except ValueError as exc:
        raise click.UsageError(f"configuration: {exc}") from None
    except Exception as exc:  # any driver or URL error: the user needs the URL and the reason
        _open_registry(config).close()  # names the registry database when that is what failed
        raise CommandError(f"cannot prepare the scheduler: {_first_line(exc)}") from None


@scheduler.command("serve")
@_CONFIG
@_registry_option
@_placement_options
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8779, show_default=True, type=click.IntRange(1, 65535), help="Port to listen on.")
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1), help="Worker processes.")
@click.option("--threads", default=4, show_default=True, type=click.IntRange(1), help="Threads per worker.")
@door_options
@click.pass_context
def serve(ctx: click.Context, config_file: str | None, db: str | None, placement_url: str | None,
          placement_db: str | None, host: str, port: int, workers: int, threads: int,
          max_request_body_size: int | None, limit_request_line: int | None, limit_request_field_size: int | None,
          log_level: str | None, log_format: str | None) -> None:
    """Serve the scheduler API under gunicorn (creates or upgrades the registry schema first)."""
    config = _load_config(ctx, config_file, db, placement_url, placement_db)
    limits, logs = door_settings(
        config_file, config.limits,
        {"max_request_body_size": max_request_body_size, "limit_request_line": limit_request_line,
         "limit_request_field_size": limit_request_field_size},
        log_level, log_format)
    config = dataclasses.replace(config, limits=limits)
    configure_logging(logs.level, logs.format)
    _prepare(config)

    def load() -> Any:
        # Runs in each worker after the fork: each opens its own connections (closed when it exits).
        stack = contextlib.ExitStack()
        atexit.register(stack.close)
        return factory.build_app(config, stack)

    where = (f"placement database {_hide_password(config.placement_db)}" if config.placement_db
             else f"placement at {config.placement_url}")
    click.echo(f"allotment scheduler API on http://{host}:{port} ({workers} workers, registry "
               f"{_hide_password(config.db_url)}, {where})", err=True)
    serve_wsgi(load, ServeOptions(host, port, workers, threads, logs.level, "allotment-scheduler", config.limits))
