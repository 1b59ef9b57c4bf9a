"""``allotment host ...``: the scheduler's host registry from the command line.

Talks to a scheduler API (``--url``, env ALLOTMENT_SCHEDULER_URL) or runs the API
in-process on a database (``--db``, env ALLOTMENT_SCHEDULER_DB, as for ``schedule``);
the ``host`` group is added to the top-level command in ``main.py``.

The commands that change a host's aggregates or disabled flag also make placement agree
when given ``--placement-url`` or ``--placement-db`` (``registry.placement_sync``);
``host sync`` repairs placement for every host, or those named.
"""

from __future__ import annotations

import contextlib
import uuid as uuidlib
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

import click
import orjson

from allotment.cli.errors import CommandError, ReportingGroup, coded, is_transport_error, unreachable
from allotment.cli.output import Output, output_options
from allotment.cli.session import DEFAULT_URL, Session
from allotment.scheduler.api.serialize import aggregate_json, group_json, host_json
from allotment.scheduler.client import SchedulerClient, connect, direct
from allotment.scheduler.errors import Conflict, NotFound, PlacementSyncError, SchedulerError
from allotment.scheduler.registry.models import GROUP_POLICIES, Aggregate, Group, Host
from allotment.scheduler.registry.placement_sync import HostSync, PlacementSync

__all__ = ["host"]

F = TypeVar("F", bound=Callable[..., Any])

HOST_COLUMNS = ("name", "provider_uuid", "cell", "hypervisor_type", "up", "disabled", "forced_down", "last_heartbeat")
AGGREGATE_COLUMNS = ("uuid", "name", "metadata", "hosts")
SYNC_COLUMNS = ("host", "provider_uuid", "added", "removed", "disabled", "error")
GROUP_COLUMNS = ("uuid", "name", "policy", "rules", "project_id", "user_id", "members", "hosts")
MEMBER_COLUMNS = ("instance", "host")


class _Session:
    """Opens the registry client on first use; closed when the command ends."""

    def __init__(self, url: str | None, db: str | None) -> None:
        self.url, self.db = url, db
        self._stack = contextlib.ExitStack()
        self._client: SchedulerClient | None = None

    @property
    def client(self) -> SchedulerClient:
        if self._client is None:
            if self.url:
                self._client = self._stack.enter_context(connect(self.url))
            elif self.db:
                self._client = self._stack.enter_context(direct(self.db))
            else:
                raise click.UsageError("say where the registry is: --url (env ALLOTMENT_SCHEDULER_URL) "
                                       "or --db (env ALLOTMENT_SCHEDULER_DB)")
        return self._client

    def placement_sync(self, url: str | None, db: str | None) -> PlacementSync | None:
        """A sync over the placement given by ``--placement-url`` / ``--placement-db``, or None."""
        if url and db:
            raise click.UsageError("give --placement-url or --placement-db, not both")
        if not (url or db):
            return None
        # The placement commands' session: the same connection and "cannot open" message.
        placement = Session(url=url or DEFAULT_URL, db=db)
        self._stack.callback(placement.close)
        return PlacementSync(placement.client)

    def close(self) -> None:
        self._stack.close()


class _HostGroup(ReportingGroup):
    """Registry errors print as ``error: <detail> (<code>)`` with exit status 1, as placement's do."""

    def failure(self, ctx: click.Context, exc: Exception) -> CommandError | None:
        if isinstance(exc, SchedulerError):  # code from the table in allotment.scheduler.errors
            return coded(exc.detail, exc.code)
        if is_transport_error(exc):
            session = ctx.find_object(_Session)
            return unreachable("the scheduler API", (session.url if session else None) or "its URL", exc)
        return None


def _listing(out: Output, brief: Sequence[str], rows: Sequence[dict[str, Any]]) -> None:
    """Rows of the API's objects: the ``brief`` columns as text, every field in JSON and YAML."""
    out.listing(tuple(rows[0]) if rows else brief, rows, brief=brief)


def _placement_options(func: F) -> F:
    func = click.option("--placement-db", default=None, metavar="URL",
                        help="Keep placement, run in-process on this database, in step.")(func)
    return click.option("--placement-url", default=None, metavar="URL",
                        help="Keep the placement API at this endpoint in step (the host provider's "
                             "aggregates and COMPUTE_STATUS_DISABLED).")(func)


def _synced(sync: PlacementSync | None, call: Callable[[PlacementSync], object], done: str, name: str,
            show: Callable[[], None]) -> None:
    """Show the registry's answer, then make placement agree; a failure exits 1 saying how to repair."""
    show()
    if sync is None:
        return
    try:
        call(sync)
    except PlacementSyncError as exc:
        raise CommandError(f"{done} in the registry, but placement was not updated: {exc.detail}. "
                                   f"Repair with 'allotment host sync {name}' and the placement option.") from None


def _pairs(values: Iterable[str], what: str) -> dict[str, str]:
    out = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint=what)
        out[key] = value
    return out


def _session(ctx: click.Context) -> _Session:
    return ctx.find_object(_Session)  # type: ignore[return-value]


@click.group(cls=_HostGroup)
@click.option("--url", envvar="ALLOTMENT_SCHEDULER_URL", default=None, metavar="URL",
              help="Scheduler API endpoint (env ALLOTMENT_SCHEDULER_URL).")
@click.option("--db", "db", envvar="ALLOTMENT_SCHEDULER_DB", default=None, metavar="URL",
              help="Run the scheduler API in-process on this database (env ALLOTMENT_SCHEDULER_DB).")
@click.pass_context
def host(ctx: click.Context, url: str | None, db: str | None) -> None:
    """Scheduler registry: hosts, host aggregates, server groups.

    The registry is the scheduler's own record of compute hosts (facts, heartbeat, service
    state), host aggregates and server groups, in its database (--db) or behind its API (--url).
    """
    src = click.core.ParameterSource
    # A value typed on the command line beats one from the environment.
    if url and db and ctx.get_parameter_source("db") == src.COMMANDLINE and \
            ctx.get_parameter_source("url") != src.COMMANDLINE:
        url = None
    session = _Session(url, db)
    ctx.obj = session
    ctx.call_on_close(session.close)


def _host_row(h: Host) -> dict[str, Any]:
    return host_json(h)


@host.command("register")
@click.argument("name")
@click.option("--provider", "provider_uuid", required=True, metavar="UUID", help="The host's root resource provider.")
@click.option("--cell", default=None)
@click.option("--hypervisor-type", default=None, help='e.g. "QEMU".')
@click.option("--hypervisor-version", type=click.IntRange(0), default=None, help="e.g. 8002000 for 8.2.0.")
@click.option("--hypervisor-hostname", default=None)
@click.option("--host-ip", default=None)
@click.option("--supported-instance", "supported", multiple=True, metavar="ARCH,HV,MODE",
              help='e.g. "x86_64,qemu,hvm" (repeatable).')
@click.option("--cpu-info", default=None, metavar="JSON", help='e.g. \'{"arch": "x86_64"}\'.')
@click.option("--stat", "stats", multiple=True, metavar="KEY=VALUE", help="A free-form fact (repeatable).")
@output_options()
@click.pass_context
def register(ctx: click.Context, name: str, provider_uuid: str, cell: str | None, hypervisor_type: str | None,
             hypervisor_version: int | None, hypervisor_hostname: str | None, host_ip: str | None,
             supported: tuple[str, ...], cpu_info: str | None, stats: tuple[str, ...], out: Output) -> None:
    """Register host NAME, or update the facts given (the others keep their value)."""
    facts: dict[str, Any] = {}
    for key, value in (("cell", cell), ("hypervisor_type", hypervisor_type),
                       ("hypervisor_version", hypervisor_version), ("hypervisor_hostname", hypervisor_hostname),
                       ("host_ip", host_ip)):
        if value is not None:
            facts[key] = value
    if supported:
        triples = [s.split(",") for s in supported]
        bad = [s for s, t in zip(supported, triples, strict=True) if len(t) != 3 or not all(t)]
        if bad:
            raise click.BadParameter(f"{bad[0]!r} is not ARCH,HV,MODE", param_hint="'--supported-instance'")
        facts["supported_instances"] = triples
    if cpu_info is not None:
        try:
            facts["cpu_info"] = orjson.loads(cpu_info)
        except orjson.JSONDecodeError as exc:
            raise click.BadParameter(f"not JSON: {exc}", param_hint="'--cpu-info'") from None
    if stats:
        facts["stats"] = _pairs(stats, "'--stat'")
    found, created = _session(ctx).client.register_host(name, provider_uuid, facts)
    if out.fmt == "table":
        click.echo(f"{'registered' if created else 'updated'} host {found.name}", err=True)
    out.mapping(_host_row(found))


@host.command("list")
@click.option("--cell", default=None, help="Only hosts of this cell.")
@output_options()
@click.pass_context
def list_hosts(ctx: click.Context, cell: str | None, out: Output) -> None:
    """List the registered hosts."""
    rows = [_host_row(h) for h in _session(ctx).client.list_hosts(cell=cell)]
    _listing(out, HOST_COLUMNS, rows)


@host.command("show")
@click.argument("name")
@output_options()
@click.pass_context
def show(ctx: click.Context, name: str, out: Output) -> None:
    """Show one host."""
    out.mapping(_host_row(_session(ctx).client.get_host(name)))


@host.command("heartbeat")
@click.argument("name")
@click.pass_context
def heartbeat(ctx: click.Context, name: str) -> None:
    """Record that host NAME is alive."""
    _session(ctx).client.heartbeat(name)


@host.command("disable")
@click.argument("name")
@click.option("--reason", default=None, help="Why (shown in host show).")
@output_options()
@_placement_options
@click.pass_context
def disable(ctx: click.Context, name: str, reason: str | None, out: Output, placement_url: str | None,
            placement_db: str | None) -> None:
    """Stop scheduling to host NAME."""
    session = _session(ctx)
    sync = session.placement_sync(placement_url, placement_db)
    found = session.client.set_host_status(name, disabled=True, disabled_reason=reason)
    _synced(sync, lambda s: s.sync_disabled(session.client, name), f"host {name!r} was disabled", name,
            lambda: out.mapping(_host_row(found)))


@host.command("enable")
@click.argument("name")
@output_options()
@_placement_options
@click.pass_context
def enable(ctx: click.Context, name: str, out: Output, placement_url: str | None, placement_db: str | None) -> None:
    """Schedule to host NAME again (clears the disabled reason)."""
    session = _session(ctx)
    sync = session.placement_sync(placement_url, placement_db)
    found = session.client.set_host_status(name, disabled=False)
    _synced(sync, lambda s: s.sync_disabled(session.client, name), f"host {name!r} was enabled", name,
            lambda: out.mapping(_host_row(found)))


@host.command("force-down")
@click.argument("name")
@click.option("--clear", is_flag=True, help="Stop forcing it down (its heartbeat decides again).")
@output_options()
@click.pass_context
def force_down(ctx: click.Context, name: str, clear: bool, out: Output) -> None:
    """Mark host NAME down whatever its heartbeat says (fencing, maintenance)."""
    out.mapping(_host_row(_session(ctx).client.set_host_status(name, forced_down=not clear)))


@host.command("delete")
@click.argument("name")
@click.pass_context
def delete(ctx: click.Context, name: str) -> None:
    """Remove host NAME from the registry (refused while instances are recorded on it)."""
    _session(ctx).client.delete_host(name)


def _sync_row(r: HostSync) -> dict[str, Any]:
    disabled = {True: "trait added", False: "trait removed", None: ""}[r.disabled]
    return {"host": r.host, "provider_uuid": r.provider_uuid, "added": r.added, "removed": r.removed,
            "disabled": disabled if r.error is None else "", "error": r.error}


@host.command("sync")
@click.argument("names", metavar="[HOST]...", nargs=-1)
@_placement_options
@output_options()
@click.pass_context
def sync(ctx: click.Context, names: tuple[str, ...], placement_url: str | None, placement_db: str | None,
         out: Output) -> None:
    """Make placement agree with the registry for every host (or those named): a repair.

    Each host's root provider is put in the placement aggregates of its registry
    aggregates and taken out of the other registry aggregates (aggregates the registry does
    not know are left alone), and carries COMPUTE_STATUS_DISABLED exactly while the host is
    disabled. Exit status 1 when a host could not be synced (its provider missing, say).
    """
    session = _session(ctx)
    placement = session.placement_sync(placement_url, placement_db)
    if placement is None:
        raise click.UsageError("say where placement is: --placement-url or --placement-db")
    try:
        report = placement.sync_all(session.client, names or None)
    except PlacementSyncError as exc:
        raise CommandError(exc.detail) from None
    out.listing(SYNC_COLUMNS, [_sync_row(r) for r in report])
    if out.fmt == "table":
        click.echo(f"{len(report)} host(s) checked, {sum(r.changed for r in report)} changed in placement", err=True)
    failed = [r for r in report if r.error]
    if failed:
        raise CommandError(f"{len(failed)} host(s) not synced: {', '.join(r.host for r in failed)}")


# ---- aggregates ------------------------------------------------------------------------------


@host.group("aggregate")
def aggregate() -> None:
    """Host aggregates of the scheduler: named host sets with metadata (zone, isolation, extra specs).

    Not the same thing as 'allotment aggregate', which edits the placement aggregates
    (bare uuids) a resource provider is in. A host aggregate's uuid is also a placement
    aggregate: with --placement-url or --placement-db, add-host and remove-host put the
    host's root provider in or out of it ('allotment host sync' repairs drift).
    """


def _resolve(client: SchedulerClient, ref: str) -> Aggregate:
    """An aggregate by uuid or by name."""
    try:
        uuidlib.UUID(ref)
        return client.get_aggregate(ref)
    except ValueError:
        pass
    for agg in client.list_aggregates():
        if agg.name == ref:
            return agg
    raise NotFound(f"no aggregate named {ref!r}", "scheduler.aggregate.not_found")


@aggregate.command("create")
@click.argument("name")
@click.option("--uuid", "agg_uuid", default=None, help="Its uuid (also the placement aggregate); default random.")
@click.option("--zone", default=None, help="Availability zone (metadata availability_zone).")
@click.option("--property", "properties", multiple=True, metavar="KEY=VALUE", help="Metadata (repeatable).")
@output_options()
@click.pass_context
def aggregate_create(ctx: click.Context, name: str, agg_uuid: str | None, zone: str | None,
                     properties: tuple[str, ...], out: Output) -> None:
    """Create aggregate NAME."""
    metadata = _pairs(properties, "'--property'")
    if zone is not None:
        metadata["availability_zone"] = zone
    agg = _session(ctx).client.create_aggregate(name, uuid=agg_uuid, metadata=metadata)
    out.mapping(aggregate_json(agg))


@aggregate.command("set")
@click.argument("ref", metavar="AGGREGATE")
@click.option("--name", default=None, help="New name.")
@click.option("--zone", default=None, help="Availability zone.")
@click.option("--property", "properties", multiple=True, metavar="KEY=VALUE", help="Set metadata (repeatable).")
@click.option("--unset-property", "unset", multiple=True, metavar="KEY", help="Remove metadata (repeatable).")
@output_options()
@click.pass_context
def aggregate_set(ctx: click.Context, ref: str, name: str | None, zone: str | None, properties: tuple[str, ...],
                  unset: tuple[str, ...], out: Output) -> None:
    """Rename AGGREGATE (name or uuid) or change its metadata."""
    updates: dict[str, str | None] = dict(_pairs(properties, "'--property'"))
    if zone is not None:
        updates["availability_zone"] = zone
    updates.update({key: None for key in unset})
    if name is None and not updates:
        raise click.UsageError("nothing to set: give --name, --zone, --property or --unset-property")
    client = _session(ctx).client
    agg = _resolve(client, ref)
    if name is not None:
        agg = client.rename_aggregate(agg.uuid, name)
    if updates:
        agg = client.set_aggregate_metadata(agg.uuid, updates)
    out.mapping(aggregate_json(agg))


@aggregate.command("add-host")
@click.argument("ref", metavar="AGGREGATE")
@click.argument("host_name", metavar="HOST")
@output_options()
@_placement_options
@click.pass_context
def aggregate_add_host(ctx: click.Context, ref: str, host_name: str, out: Output, placement_url: str | None,
                       placement_db: str | None) -> None:
    """Put HOST in AGGREGATE (name or uuid)."""
    _change_membership(ctx, ref, host_name, out, placement_url, placement_db, add=True)


@aggregate.command("remove-host")
@click.argument("ref", metavar="AGGREGATE")
@click.argument("host_name", metavar="HOST")
@output_options()
@_placement_options
@click.pass_context
def aggregate_remove_host(ctx: click.Context, ref: str, host_name: str, out: Output, placement_url: str | None,
                          placement_db: str | None) -> None:
    """Take HOST out of AGGREGATE (name or uuid)."""
    _change_membership(ctx, ref, host_name, out, placement_url, placement_db, add=False)


def _change_membership(ctx: click.Context, ref: str, host_name: str, out: Output, placement_url: str | None,
                       placement_db: str | None, *, add: bool) -> None:
    """Add or remove the host in the registry, then (given placement options) make placement agree."""
    session = _session(ctx)
    sync = session.placement_sync(placement_url, placement_db)
    change = session.client.add_aggregate_host if add else session.client.remove_aggregate_host
    agg = change(_resolve(session.client, ref).uuid, host_name)
    done = f"was added to aggregate {agg.name!r}" if add else f"was removed from aggregate {agg.name!r}"
    _synced(sync, lambda s: s.sync_aggregates(session.client, host_name, [agg.uuid]), f"host {host_name!r} {done}",
            host_name, lambda: out.mapping(aggregate_json(agg)))


@aggregate.command("list")
@output_options()
@click.pass_context
def aggregate_list(ctx: click.Context, out: Output) -> None:
    """List the aggregates with their metadata and hosts."""
    _listing(out, AGGREGATE_COLUMNS, [aggregate_json(a) for a in _session(ctx).client.list_aggregates()])


@aggregate.command("show")
@click.argument("ref", metavar="AGGREGATE")
@output_options()
@click.pass_context
def aggregate_show(ctx: click.Context, ref: str, out: Output) -> None:
    """Show AGGREGATE (name or uuid)."""
    out.mapping(aggregate_json(_resolve(_session(ctx).client, ref)))


@aggregate.command("delete")
@click.argument("ref", metavar="AGGREGATE")
@click.pass_context
def aggregate_delete(ctx: click.Context, ref: str) -> None:
    """Delete AGGREGATE (name or uuid); it must have no hosts."""
    client = _session(ctx).client
    client.delete_aggregate(_resolve(client, ref).uuid)


# ---- server groups ---------------------------------------------------------------------------


@host.group("server-group")
def server_group() -> None:
    """Server groups: affinity and anti-affinity of instances (``allotment schedule --group UUID``)."""


def _resolve_group(client: SchedulerClient, ref: str) -> Group:
    """A server group by uuid or by name (names need not be unique: an ambiguous name is refused)."""
    try:
        uuidlib.UUID(ref)
        return client.get_group(ref)
    except ValueError:
        pass
    named = [g for g in client.list_groups() if g.name == ref]
    if not named:
        raise NotFound(f"no server group named {ref!r}", "scheduler.server_group.not_found")
    if len(named) > 1:
        raise Conflict(f"{len(named)} server groups are named {ref!r} ({', '.join(g.uuid for g in named)}); "
                       "give the uuid")
    return named[0]


def _group_summary(g: Group) -> dict[str, Any]:
    return {**group_json(g), "members": len(g.members)}


@server_group.command("create")
@click.argument("name")
@click.option("--policy", required=True, type=click.Choice(GROUP_POLICIES), help="How its members are placed.")
@click.option("--max-server-per-host", type=click.IntRange(1, 2**31 - 1), default=None, metavar="N",
              help="Members allowed on one host (anti-affinity only; default 1).")
@click.option("--project-id", default=None, help="The project that owns it.")
@click.option("--user-id", default=None, help="The user that owns it.")
@click.option("--uuid", "group_uuid", default=None, help="Its uuid; default random.")
@output_options()
@click.pass_context
def server_group_create(ctx: click.Context, name: str, policy: str, max_server_per_host: int | None,
                        project_id: str | None, user_id: str | None, group_uuid: str | None, out: Output) -> None:
    """Create server group NAME with a placement policy."""
    if max_server_per_host is not None and policy != "anti-affinity":
        raise click.UsageError(f"--max-server-per-host is only allowed with --policy anti-affinity, not {policy}")
    rules = {"max_server_per_host": max_server_per_host} if max_server_per_host is not None else None
    group = _session(ctx).client.create_group(name, policy, rules=rules, project_id=project_id, user_id=user_id,
                                              uuid=group_uuid)
    out.mapping(group_json(group))


@server_group.command("list")
@click.option("--project-id", default=None, help="Only the groups of this project.")
@output_options()
@click.pass_context
def server_group_list(ctx: click.Context, project_id: str | None, out: Output) -> None:
    """List the server groups (text formats count members; JSON and YAML list them)."""
    groups = _session(ctx).client.list_groups(project_id=project_id)
    if out.structured:
        _listing(out, GROUP_COLUMNS, [group_json(g) for g in groups])
    else:
        _listing(out, GROUP_COLUMNS, [_group_summary(g) for g in groups])


@server_group.command("show")
@click.argument("ref", metavar="NAME_OR_UUID")
@output_options()
@click.pass_context
def server_group_show(ctx: click.Context, ref: str, out: Output) -> None:
    """Show a server group, its members and the hosts they are on."""
    group = _resolve_group(_session(ctx).client, ref)
    if out.structured:
        out.mapping(group_json(group))
        return
    out.mapping(_group_summary(group))
    if group.members:
        out.listing(MEMBER_COLUMNS, [{"instance": i, "host": h} for i, h in group.members.items()])


@server_group.command("delete")
@click.argument("ref", metavar="NAME_OR_UUID")
@click.pass_context
def server_group_delete(ctx: click.Context, ref: str) -> None:
    """Delete a server group (its memberships go with it; the instances stay)."""
    client = _session(ctx).client
    client.delete_group(_resolve_group(client, ref).uuid)


from allotment.cli.host_topology import topology as _topology  # noqa: E402 - the subgroup lives in its own module

host.add_command(_topology)
