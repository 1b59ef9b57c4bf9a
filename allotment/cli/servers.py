"""``allotment server ...`` (the compute API's client), ``servers serve``, ``compute run`` and ``audit``.

``server`` commands talk to the compute API over HTTP (``--compute-url``, env
ALLOTMENT_COMPUTE_URL). ``servers serve`` runs the compute API, the conductor and
``--fake-computes N`` compute agents in one process; ``compute run`` runs one compute agent;
``audit`` compares placement with the servers' records and, with ``--heal``, repairs.
The last three use placement through the global ``--url``/``--db``.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import click

from allotment.cli.errors import CommandError, coded, first_line, is_transport_error, unreachable
from allotment.cli.output import Output, output_options
from allotment.cli.session import Session, pass_session

__all__ = ["audit", "compute", "server", "servers"]

DEFAULT_COMPUTE_URL = "http://127.0.0.1:8780"
DEFAULT_DB = "sqlite:///./allotment.sqlite"
SERVER_FIELDS = ("id", "name", "status", "vm_state", "task_state", "host", "node", "cell", "reservation_id",
                 "flavor", "image", "availability_zone", "server_group", "project_id", "user_id", "created",
                 "updated", "launched_at", "deleted", "fault")
LIST_FIELDS = ("id", "name", "status", "task_state", "host", "cell", "reservation_id")
ACTION_FIELDS = ("action", "result", "start_time", "finish_time", "request_id", "message")
SETTLED = ("ACTIVE", "ERROR", "VERIFY_RESIZE", "DELETED")


# ---- the compute API's client ---------------------------------------------------------------------


class _Api:
    def __init__(self, url: str, token: str) -> None:
        import httpx

        self.url = url.rstrip("/")
        self.http = httpx.Client(base_url=self.url, headers={"x-auth-token": token}, timeout=30.0)

    def call(self, method: str, path: str, *, json: Any = None, params: dict[str, str] | None = None,
             missing_ok: bool = False) -> Any:
        try:
            resp = self.http.request(method, path, json=json, params=params)
        except Exception as exc:
            if is_transport_error(exc):
                raise unreachable("the compute API", self.url, exc) from exc
            raise
        if missing_ok and resp.status_code == 404:
            return None
        if resp.status_code >= 400:
            try:
                error = resp.json()["errors"][0]
                raise coded(error["detail"], error.get("code"), resp.status_code)
            except (ValueError, KeyError, IndexError, TypeError):
                raise coded(resp.text.strip() or resp.reason_phrase, None, resp.status_code) from None
        return resp.json() if resp.content else None

    def wait(self, uuid: str, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            server = self.call("GET", f"/servers/{uuid}")["server"]
            if server["status"] in SETTLED and server["task_state"] is None:
                return dict(server)
            if time.monotonic() > deadline:
                raise CommandError(f"server {uuid} still {server['status']} ({server['task_state']}) "
                                   f"after {timeout:g}s")
            time.sleep(0.1)


@contextlib.contextmanager
def _api(ctx: click.Context) -> Iterator[_Api]:
    session = ctx.find_object(Session)
    api = _Api(ctx.meta["compute_url"], session.token if session else "admin")
    try:
        yield api
    finally:
        api.http.close()


def _pairs(values: Iterable[str], hint: str) -> dict[str, str]:
    out = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint=hint)
        out[key] = value
    return out


def _show(out: Output, server: dict[str, Any]) -> None:
    out.record(SERVER_FIELDS, [server.get(f) for f in SERVER_FIELDS])


def flavor_options(func: Any) -> Any:
    for decorator in reversed([
        click.option("--flavor-name", default="custom", show_default=True, help="The flavor's name."),
        click.option("--vcpus", type=click.IntRange(min=1), required=True, help="VCPUs of the flavor."),
        click.option("--memory-mb", type=click.IntRange(min=1), required=True, help="Memory of the flavor, MiB."),
        click.option("--root-gb", type=click.IntRange(min=0), default=0, show_default=True, help="Root disk, GiB."),
        click.option("--ephemeral-gb", type=click.IntRange(min=0), default=0, show_default=True,
                     help="Ephemeral disk, GiB."),
        click.option("--swap", type=click.IntRange(min=0), default=0, show_default=True, help="Swap, MiB."),
        click.option("--extra-spec", "extra_specs", multiple=True, metavar="KEY=VALUE",
                     help="Flavor extra spec (repeatable)."),
    ]):
        func = decorator(func)
    return func


def _flavor(kw: dict[str, Any]) -> dict[str, Any]:
    return {"name": kw.pop("flavor_name"), "vcpus": kw.pop("vcpus"), "memory_mb": kw.pop("memory_mb"),
            "root_gb": kw.pop("root_gb"), "ephemeral_gb": kw.pop("ephemeral_gb"), "swap": kw.pop("swap"),
            "extra_specs": _pairs(kw.pop("extra_specs"), "'--extra-spec'")}


_WAIT = click.option("--wait", is_flag=True, help="Wait until the server settles (ACTIVE, ERROR, VERIFY_RESIZE, "
                                                  "DELETED) and show it.")
_TIMEOUT = click.option("--timeout", type=click.FloatRange(min=0), default=120, show_default=True,
                        help="Seconds --wait waits.")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--compute-url", envvar="ALLOTMENT_COMPUTE_URL", default=DEFAULT_COMPUTE_URL, show_default=True,
              metavar="URL", help="The compute API (env ALLOTMENT_COMPUTE_URL).")
@click.pass_context
def server(ctx: click.Context, compute_url: str) -> None:
    """Servers through the compute API: create, list, show, delete, moves."""
    ctx.meta["compute_url"] = compute_url


@server.command("create")
@click.argument("name")
@flavor_options
@click.option("--image", "image_id", default=None, help="Image id.")
@click.option("--image-property", "image_properties", multiple=True, metavar="KEY=VALUE",
              help="Image property (repeatable).")
@click.option("--availability-zone", default=None, help="Availability zone (AZ, or AZ:HOST to force a host).")
@click.option("--hint", "hints", multiple=True, metavar="KEY=VALUE", help="Scheduler hint (repeatable).")
@click.option("--group", default=None, metavar="UUID", help="Server group.")
@click.option("--min-count", type=click.IntRange(min=1), default=None, help="At least this many, or none.")
@click.option("--max-count", type=click.IntRange(min=1), default=None, help="At most this many (what fits).")
@click.option("--return-reservation-id", is_flag=True, help="Answer with only the reservation id.")
@_WAIT
@_TIMEOUT
@output_options()
@click.pass_context
def server_create(ctx: click.Context, name: str, out: Output, wait: bool, timeout: float, **kw: Any) -> None:
    """Create servers; answers at once with their uuids (or the reservation id)."""
    body: dict[str, Any] = {"name": name, "flavor": _flavor(kw)}
    image = {k: v for k, v in {"id": kw["image_id"],
                               "properties": _pairs(kw["image_properties"], "'--image-property'")}.items() if v}
    if image:
        body["image"] = image
    hints: dict[str, list[str]] = {}
    for item in kw["hints"]:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="'--hint'")
        hints.setdefault(key, []).append(value)
    if hints:
        body["scheduler_hints"] = hints
    for key in ("availability_zone", "min_count", "max_count"):
        if kw[key] is not None:
            body[key] = kw[key]
    if kw["group"]:
        body["server_group"] = kw["group"]
    if kw["return_reservation_id"]:
        body["return_reservation_id"] = True
    with _api(ctx) as api:
        answer = api.call("POST", "/servers", json={"server": body})
        if "reservation_id" in answer and "server" not in answer:
            if wait:
                listed = api.call("GET", "/servers", params={"reservation_id": answer["reservation_id"],
                                                             "deleted": "true"})["servers"]
                rows = [api.wait(s["id"], timeout) for s in listed]
                out.listing(LIST_FIELDS, rows)
            else:
                out.mapping(answer)
            return
        uuids = [s["id"] for s in answer["servers"]]
        if wait:
            out.listing(LIST_FIELDS, [api.wait(u, timeout) for u in uuids])
        else:
            out.listing(("id", "reservation_id"), [(u, answer["server"]["reservation_id"]) for u in uuids])


@server.command("list")
@click.option("--reservation-id", default=None)
@click.option("--host", default=None)
@click.option("--status", default=None, help="BUILD, ACTIVE, VERIFY_RESIZE, ERROR, DELETED, ...")
@click.option("--cell", default=None)
@click.option("--deleted", is_flag=True, help="Include deleted servers.")
@output_options(*SERVER_FIELDS)
@click.pass_context
def server_list(ctx: click.Context, out: Output, deleted: bool, **filters: str | None) -> None:
    """List servers across cells."""
    params = {k: v for k, v in filters.items() if v is not None}
    if deleted:
        params["deleted"] = "true"
    with _api(ctx) as api:
        rows = api.call("GET", "/servers", params=params)["servers"]
    out.listing(SERVER_FIELDS, [{f: r.get(f) for f in SERVER_FIELDS} for r in rows], brief=LIST_FIELDS)


@server.command("show")
@click.argument("uuid")
@output_options(*SERVER_FIELDS)
@click.pass_context
def server_show(ctx: click.Context, uuid: str, out: Output) -> None:
    """One server, with its fault when it failed."""
    with _api(ctx) as api:
        _show(out, api.call("GET", f"/servers/{uuid}")["server"])


@server.command("delete")
@click.argument("uuid")
@_WAIT
@_TIMEOUT
@click.pass_context
def server_delete(ctx: click.Context, uuid: str, wait: bool, timeout: float) -> None:
    """Delete a server (everything it holds is freed)."""
    with _api(ctx) as api:
        api.call("DELETE", f"/servers/{uuid}")
        if wait:
            api.wait(uuid, timeout)
    click.echo(f"server {uuid} deleted" if wait else f"server {uuid} deleting")


def _action(ctx: click.Context, uuid: str, body: dict[str, Any], out: Output, wait: bool, timeout: float) -> None:
    with _api(ctx) as api:
        api.call("POST", f"/servers/{uuid}/action", json=body)
        _show(out, api.wait(uuid, timeout) if wait else api.call("GET", f"/servers/{uuid}")["server"])


@server.command("resize")
@click.argument("uuid")
@flavor_options
@_WAIT
@_TIMEOUT
@output_options(*SERVER_FIELDS)
@click.pass_context
def server_resize(ctx: click.Context, uuid: str, out: Output, wait: bool, timeout: float, **kw: Any) -> None:
    """Resize to a new flavor (VERIFY_RESIZE, then confirm or revert)."""
    _action(ctx, uuid, {"resize": {"flavor": _flavor(kw)}}, out, wait, timeout)


def _simple_action(name: str, key: str, doc: str) -> None:
    @server.command(name, help=doc)
    @click.argument("uuid")
    @_WAIT
    @_TIMEOUT
    @output_options(*SERVER_FIELDS)
    @click.pass_context
    def command(ctx: click.Context, uuid: str, out: Output, wait: bool, timeout: float) -> None:
        _action(ctx, uuid, {key: None}, out, wait, timeout)


_simple_action("confirm", "confirmResize", "Confirm a resize or migration: the source is freed.")
_simple_action("revert", "revertResize", "Revert a resize or migration: back to the source and the old flavor.")
_simple_action("migrate", "migrate", "Cold migrate to another host (VERIFY_RESIZE, then confirm or revert).")
_simple_action("evacuate", "evacuate", "Rebuild on another host; only when the server's host is down or forced down.")


@server.command("actions")
@click.argument("uuid")
@output_options(*ACTION_FIELDS)
@click.pass_context
def server_actions(ctx: click.Context, uuid: str, out: Output) -> None:
    """The server's action log."""
    with _api(ctx) as api:
        rows = api.call("GET", f"/servers/{uuid}/os-instance-actions")["instanceActions"]
    out.listing(ACTION_FIELDS, [{f: r.get(f) for f in ACTION_FIELDS} for r in rows])


# ---- services -------------------------------------------------------------------------------------


def _wait_for_signal(tick: Callable[[], None] | None = None, every: float = 1.0) -> None:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.wait(every):
        if tick is not None:
            tick()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def servers() -> None:
    """The compute API with the conductor (and fake computes), one process."""


@servers.command("serve")
@click.option("--db", "db_url", envvar="ALLOTMENT_DB", default=DEFAULT_DB, show_default=True, metavar="URL",
              help="Placement, the scheduler registry and the servers' records (one database).")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=8780, show_default=True)
@click.option("--fake-computes", type=click.IntRange(min=0), default=0, show_default=True,
              help="Run this many fake compute agents (compute1..N) in this process too.")
@click.option("--inventory", "inventory_file", type=click.Path(dir_okay=False), default=None,
              help="Inventory file (YAML/JSON) of the fake computes (default 16 VCPU, 32 GiB, 500 GB); "
                   "a topology: section gives each the same NUMA cells and PCI devices.")
@click.option("--spawn-time", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="Seconds each fake spawn takes.")
@click.option("--failure-rate", type=click.FloatRange(0, 1), default=0.0, show_default=True,
              help="Share of fake spawns that fail (rescheduled onto alternates).")
@click.option("--transport", "transport_url", default="inprocess://", show_default=True,
              help="inprocess:// or amqp://user:pass@host:port/ (computes in other processes).")
@click.option("--audit-interval", type=click.FloatRange(min=0), default=60.0, show_default=True,
              help="Seconds between the conductor's audit-and-heal passes (0: never).")
@click.option("--stuck-after", type=click.FloatRange(min=1), default=300.0, show_default=True,
              help="Seconds in a task state before the audit calls a server stuck.")
def servers_serve(db_url: str, host: str, port: int, fake_computes: int, inventory_file: str | None,
                  spawn_time: float, failure_rate: float, transport_url: str, audit_interval: float,
                  stuck_after: float) -> None:
    """Serve the compute API with the conductor (and N fake computes) in this one process."""
    from allotment.servers.cloud import Cloud
    from allotment.servers.compute.inventory import InventoryError, load_inventory
    from allotment.servers.httpd import threaded_server

    try:
        inventory = load_inventory(inventory_file) if inventory_file else None
    except InventoryError as exc:
        raise click.BadParameter(str(exc), param_hint="'--inventory'") from None
    try:
        with Cloud.open(db_url, computes=fake_computes, inventory=inventory, transport_url=transport_url,
                        spawn_time=spawn_time, failure_rate=failure_rate, audit_interval=audit_interval,
                        stuck_after=stuck_after) as cloud:
            httpd = threaded_server(cloud.app, host, port)
            threading.Thread(target=httpd.serve_forever, daemon=True).start()
            click.echo(f"compute API on http://{host}:{httpd.server_port} with the conductor and "
                       f"{fake_computes} fake compute(s), database {db_url}", err=True)
            try:
                _wait_for_signal()
            finally:
                httpd.shutdown()
                httpd.server_close()
    except OSError as exc:
        raise CommandError(f"cannot serve on {host}:{port}: {exc.strerror or exc}") from exc


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def compute() -> None:
    """Compute agents: report a host to placement, take builds."""


@compute.command("run")
@click.argument("name")
@click.option("--inventory", "inventory_file", type=click.Path(dir_okay=False), required=True,
              help="The host's inventory (YAML/JSON): VCPU, MEMORY_MB, DISK_GB, optional children and topology; "
                   "re-read and reported again when it changes.")
@click.option("--registry-db", envvar="ALLOTMENT_SCHEDULER_DB", default=DEFAULT_DB, show_default=True,
              metavar="URL", help="The scheduler registry's database (env ALLOTMENT_SCHEDULER_DB).")
@click.option("--transport", "transport_url", default="inprocess://", show_default=True,
              help="amqp://user:pass@host:port/ to reach a conductor in another process.")
@click.option("--cell", default=None, help="The cell this host belongs to.")
@click.option("--spawn-time", type=click.FloatRange(min=0), default=0.0, show_default=True)
@click.option("--failure-rate", type=click.FloatRange(0, 1), default=0.0, show_default=True)
@click.option("--heartbeat", type=click.FloatRange(min=0.1), default=10.0, show_default=True,
              help="Seconds between heartbeats.")
@click.option("--watch-interval", type=click.FloatRange(min=0.1), default=5.0, show_default=True,
              help="Seconds between checks of the inventory file for changes.")
@pass_session
def compute_run(session: Session, name: str, inventory_file: str, registry_db: str, transport_url: str,
                cell: str | None, spawn_time: float, failure_rate: float, heartbeat: float,
                watch_interval: float) -> None:
    """Run compute agent NAME with the fake driver: report its tree to placement, register, take builds."""
    from allotment.client import PlacementError
    from allotment.client.provider_tree import ReshapeNeeded
    from allotment.scheduler.errors import SchedulerError
    from allotment.scheduler.registry import Registry
    from allotment.servers.compute import ComputeAgent, FakeDriver
    from allotment.servers.compute.inventory import InventoryError, InventoryFile
    from allotment.servers.transport import TransportError, open_transport

    try:
        watched = InventoryFile(inventory_file)
    except InventoryError as exc:
        raise click.BadParameter(str(exc), param_hint="'--inventory'") from None
    inventory = watched.inventory
    try:
        transport = open_transport(transport_url)
    except TransportError as exc:
        raise CommandError(str(exc)) from exc
    try:
        with Registry.open(registry_db) as registry:
            agent = ComputeAgent(name, inventory, placement=session.client, registry=registry, transport=transport,
                                 driver=FakeDriver(spawn_time=spawn_time, failure_rate=failure_rate), cell=cell,
                                 heartbeat_interval=heartbeat)
            try:
                agent.start()
            except SchedulerError as exc:  # the topology refused by the registry
                raise CommandError(f"compute {name}: {exc.detail}") from exc
            click.echo(f"compute {name} running (provider {agent.provider_uuid})", err=True)

            def reload() -> None:
                try:
                    changed = watched.changed()
                    if changed is not None:
                        agent.update_inventory(changed)
                        click.echo(f"compute {name}: {inventory_file} changed, reported again", err=True)
                except (InventoryError, SchedulerError, PlacementError, ReshapeNeeded) as exc:
                    # The agent goes on with what it reported last; the operator fixes the file.
                    click.echo(f"compute {name}: {inventory_file} not reported: {exc}", err=True)

            try:
                _wait_for_signal(reload, watch_interval)
            finally:
                agent.stop()
    finally:
        transport.close()


@click.command("audit")
@click.option("--heal", is_flag=True, help="Repair what is found and say what was done.")
@click.option("--servers-db", envvar="ALLOTMENT_SERVERS_DB", default=DEFAULT_DB, show_default=True, metavar="URL",
              help="The servers' records and the scheduler registry (env ALLOTMENT_SERVERS_DB).")
@click.option("--stuck-after", type=click.FloatRange(min=0), default=300.0, show_default=True,
              help="Seconds in a task state before a server counts as stuck.")
@click.option("--transport", "transport_url", default="inprocess://", show_default=True,
              help="The computes' transport (amqp://...), so a healed build or delete reaches its host.")
@output_options("kind", "subject", "detail", "action")
@pass_session
def audit(session: Session, heal: bool, servers_db: str, stuck_after: float, transport_url: str,
          out: Output) -> None:
    """Audit placement against the servers' records; --heal repairs.

    Finds orphaned allocations, servers without allocations, leftovers of deleted hosts,
    half-done migrations, stuck servers and providers over capacity.
    """
    from allotment.scheduler.config import load_scheduler_config
    from allotment.scheduler.registry import Registry
    from allotment.scheduler.service import Scheduler
    from allotment.servers.audit import Auditor
    from allotment.servers.conductor import Conductor
    from allotment.servers.store import ServerStore
    from allotment.servers.transport import TransportError, open_transport

    config = load_scheduler_config(None, db_url=servers_db)
    try:
        # In-process by default: casts to computes (destroy, a rescheduled build) go nowhere. With
        # computes in other processes, give their amqp:// URL so what --heal sends reaches them.
        transport = open_transport(transport_url)
    except TransportError as exc:
        raise CommandError(str(exc)) from exc
    try:
        with Registry.open(servers_db) as registry, ServerStore.open(servers_db) as store:
            conductor = Conductor(store, Scheduler(session.client, registry, config), transport)
            report = Auditor(store, conductor, stuck_after=stuck_after).run(heal=heal)
    except CommandError:
        raise
    except Exception as exc:
        if is_transport_error(exc):
            raise unreachable("placement", session.target, exc) from exc
        raise CommandError(f"audit failed: {first_line(exc)}") from exc
    finally:
        transport.close()
    rows = [f.to_dict() for f in report.findings]
    out.listing(("kind", "subject", "detail", "action"), rows,
                title=f"{len(rows)} finding(s){', healed' if heal else ''}")
    if not out.structured and out.fmt == "table":
        counts = ", ".join(f"{k} {n}" for k, n in report.counts().items())
        click.echo(counts, err=True)
