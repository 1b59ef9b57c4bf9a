"""The scheduler: ``select_destinations`` (boots, N instances in one call) and moves.

One call goes: request filters (spec -> placement constraints), one GET
/allocation_candidates, HostStates for the offered roots from the registry, then per
instance: narrow, filter, weigh, pick, and claim in placement by walking the sorted hosts
until a claim sticks. A hard server group policy is made to hold across scheduler processes
by the registry: after the claim the member is added under the group's lock, and a refusal
drops the claim and moves on. Everything is all-or-nothing: if fewer than N instances are
placed, every claim, membership and instance record this call made is removed again.

See ``allotment.scheduler.migrations`` for how a move's two consumers are handled.
"""

from __future__ import annotations

import copy
import logging
import random
import uuid as uuidlib
from collections.abc import Sequence
from dataclasses import dataclass
from time import perf_counter
from typing import Any

from allotment.client import BadRequest, Conflict, NotFound, PlacementClient
from allotment.scheduler import migrations
from allotment.scheduler.claims import Ledger, claim, delete_claim, is_consumer_conflict
from allotment.scheduler.config import SchedulerConfig
from allotment.scheduler.filtering import FilterResult, narrow_hosts, run_filters
from allotment.scheduler.host_manager import merge_candidates
from allotment.scheduler.host_state import HostState, InstanceInfo
from allotment.scheduler.placement_query import (
    PLACEMENT_MICROVERSION,
    NoSuchHost,
    apply_mappings,
    to_placement_query,
)
from allotment.scheduler.plugins import load_filters, load_weighers
from allotment.scheduler.registry import GroupPolicyViolation, InvalidInput, Registry
from allotment.scheduler.registry import NotFound as RegistryNotFound
from allotment.scheduler.registry.instances import check_fields
from allotment.scheduler.request_filters import RequestFilterContext, RequestFilterFailed, process_request_spec
from allotment.scheduler.selection import TIMING_KEYS, ConsumerInUse, NoValidHost, ScheduleResult, Selection
from allotment.scheduler.spec import InvalidRequestSpec, RequestSpec
from allotment.scheduler.weighing import pick, weigh_hosts

__all__ = ["ConsumerInUse", "NoValidHost", "ScheduleResult", "Scheduler", "Selection"]

LOG = logging.getLogger(__name__)

SCHEDULING_TASK_STATE = "scheduling"
# Claims tried on one host before moving on: a nested host may fit through another candidate
# (the other NUMA node), but a host that refused three is full for us.
_CLAIMS_PER_HOST = 3


@dataclass
class _Move:
    instance: str
    migration: str
    source: str | None  # host name the instance leaves, when known


@dataclass
class _Placed:
    instance: str
    host: HostState
    request: dict[str, Any]  # the claimed allocation request
    group: str | None = None  # server group the instance was added to (boot)
    recorded: bool = False  # the registry record was created by this call
    move_hold: bool = False  # a move's group hold was taken (undo with finish_move)


class _Clock:
    """Adds the time since the last lap to one phase's total."""

    def __init__(self, timings: dict[str, float]) -> None:
        self.timings = timings
        self.last = perf_counter()

    def lap(self, phase: str) -> None:
        now = perf_counter()
        self.timings[phase] += now - self.last
        self.last = now


class Scheduler:
    def __init__(self, placement: PlacementClient, registry: Registry, config: SchedulerConfig, *,
                 rng: random.Random | None = None) -> None:
        self.placement = placement
        self.registry = registry
        self.config = config
        self.rng = rng if rng is not None else random.Random()
        self.filters = load_filters(config)
        self.weighers = load_weighers(config)
        self._once_per_request = {f.name() for f in self.filters if f.run_filter_once_per_request}

    # ---- boots ------------------------------------------------------------------------------

    def select_destinations(self, spec: RequestSpec, *, return_alternates: bool = True) -> ScheduleResult:
        """Claim a host for every instance of ``spec``; per instance the claimed host, then alternates.

        Raises InvalidRequestSpec or FilterError (bad request), NoValidHost (nothing claimed
        is left behind), ConsumerInUse (an instance uuid already holds allocations).
        """
        return self._schedule(spec, return_alternates=return_alternates, move=None)

    def release(self, result: ScheduleResult) -> None:
        """Drop what ``result`` claimed (the caller gave up): allocations, registry records, memberships.

        A move's result is reverted instead: the instance gets its source allocations back.
        """
        if result.migration_uuid is not None:
            self.revert_move(result.instance_uuids[0], result.migration_uuid)
            return
        for instance in result.instance_uuids:
            delete_claim(self.placement, instance)
            try:
                self.registry.remove_instance(instance)  # its group membership goes with it
            except RegistryNotFound:
                pass
        LOG.info("released reservation %s: %s", result.reservation_id, ", ".join(result.instance_uuids))

    # ---- moves ------------------------------------------------------------------------------

    def schedule_move(self, spec: RequestSpec, *, migration_uuid: str) -> ScheduleResult:
        """Move (resize, cold migrate) the one instance of ``spec``: source to the migration, claim a new host.

        The current host is excluded unless ``allow_resize_to_same_host``. On any failure
        (NoValidHost included) the instance gets its source allocations back.
        """
        started = perf_counter()
        _check_spec(spec)
        if spec.num_instances != 1 or len(spec.instance_uuids) != 1:
            raise InvalidRequestSpec("instance_uuids: a move names exactly one instance (num_instances 1)")
        instance = spec.instance_uuids[0]
        migration = _uuid(migration_uuid, "migration_uuid")
        if migration == instance:
            raise InvalidRequestSpec("migration_uuid: must differ from the instance uuid")
        held = migrations.to_migration(self.placement, instance, migration)
        moved = perf_counter() - started
        try:
            source = self._host_of(held["allocations"])
            work = copy.deepcopy(spec)
            if source is not None and not self.config.allow_resize_to_same_host and source not in work.ignore_hosts:
                work.ignore_hosts.append(source)
            result = self._schedule(work, return_alternates=True, move=_Move(instance, migration, source))
        except BaseException:
            try:
                migrations.to_instance(self.placement, instance, migration)
            except Exception:
                LOG.exception("move of %s failed and its allocations could not be taken back from migration %s",
                              instance, migration)
            raise
        result.timings["claim"] += moved
        result.timings["total"] = perf_counter() - started
        return result

    def confirm_move(self, instance_uuid: str, migration_uuid: str) -> None:
        """The instance stays on its new host: free the source (the migration's allocations)."""
        instance = _uuid(instance_uuid, "instance_uuid")
        migration = _uuid(migration_uuid, "migration_uuid")
        self._migration_allocations(migration)  # MigrationNotFound before touching anything
        current = migrations.consumer_allocations(self.placement, instance)["allocations"]
        dest = self._host_of(current) if current else None
        if dest is None:
            raise migrations.MoveError(f"instance {instance} holds no allocations on a registered host to confirm")
        # Registry first: run again after a failure, both steps still apply.
        migrations.finish_move(self.registry, instance, migration, dest)
        migrations.drop_migration(self.placement, migration)
        LOG.info("confirmed move of %s to %s (migration %s)", instance, dest, migration)

    def revert_move(self, instance_uuid: str, migration_uuid: str) -> None:
        """The instance goes back: one POST puts the migration's allocations back on it and empties the migration."""
        instance = _uuid(instance_uuid, "instance_uuid")
        migration = _uuid(migration_uuid, "migration_uuid")
        source = self._host_of(self._migration_allocations(migration))
        if source is not None:
            migrations.finish_move(self.registry, instance, migration, source)
        migrations.to_instance(self.placement, instance, migration)
        LOG.info("reverted move of %s back to %s (migration %s)", instance, source, migration)

    # ---- the request ------------------------------------------------------------------------

    def _schedule(self, spec: RequestSpec, *, return_alternates: bool, move: _Move | None) -> ScheduleResult:
        timings = dict.fromkeys(TIMING_KEYS, 0.0)
        started = perf_counter()
        clock = _Clock(timings)
        _check_spec(spec)
        work = copy.deepcopy(spec)
        count = work.num_instances
        work.instance_uuids = list(work.instance_uuids) or [str(uuidlib.uuid4()) for _ in range(count)]
        fields = _instance_fields(work)
        reservation = f"r-{uuidlib.uuid4().hex[:12]}"
        self._setup_group(work)

        try:
            process_request_spec(work, RequestFilterContext(self.config, self.registry.all_aggregates()))
        except RequestFilterFailed as exc:
            raise NoValidHost(str(exc)) from None
        clock.lap("request_filters")

        try:
            query = to_placement_query(work, limit=self.config.max_placement_results,
                                       host_to_root=self.registry.root_of)
        except NoSuchHost as exc:
            raise NoValidHost(str(exc)) from None
        answer = self.placement.request("GET", "/allocation_candidates", params=query,
                                        microversion=PLACEMENT_MICROVERSION)
        clock.lap("placement_query")

        summaries = answer.get("provider_summaries") or {}
        roots = {s.get("root_provider_uuid") or rp for rp, s in summaries.items()}
        hosts = merge_candidates(self.registry.host_states(roots), answer)
        clock.lap("host_states")
        if not hosts:
            raise NoValidHost(_nothing_offered(answer))

        ledger = Ledger(summaries)
        placed: list[_Placed] = []
        ranked: list[list[HostState]] = []  # per instance, its hosts best first (alternates come from here)
        refused: set[str] = set()  # roots whose claim failed in this call: not retried, not alternates
        current: list[HostState] = hosts
        once: list[tuple[str, int, int]] = []
        try:
            for index, instance in enumerate(work.instance_uuids):
                work.instance_uuid = instance
                narrowed, forced = narrow_hosts(current, work)
                result = FilterResult(narrowed) if forced else run_filters(
                    self.filters, narrowed, work, first_instance=index == 0)
                clock.lap("filtering")
                if index == 0:
                    once = [r for r in result.removed if r[0] in self._once_per_request]
                if not result.hosts:
                    # Later instances do not rerun the once-per-request filters: say what they removed first.
                    shown = result if index == 0 else FilterResult(result.hosts, once + result.removed)
                    raise NoValidHost(_filter_reason(shown, narrowed, index, count))
                ordered = pick(weigh_hosts(self.weighers, result.hosts, work), self.config, self.rng)
                clock.lap("weighing")
                chosen = self._claim_first(ordered, instance, work, ledger, refused, move, placed)
                clock.lap("claim")
                if chosen is None:
                    raise NoValidHost(
                        f"not enough hosts: placed {index} of {count} instance(s); none of the {len(ordered)} "
                        f"host(s) that passed the filters could take the next one (resources used by earlier "
                        f"instances of the request or taken meanwhile, or refused by the server group)")
                self._consume(chosen, work, ledger, fields, move)
                ranked.append(ordered)
                current = result.hosts
            if move is not None:
                self._mark_moving(move, placed[0].host.host, fields)
        except BaseException:
            self._undo(placed, move)
            raise
        clock.lap("claim")

        selections = self._selections(placed, ranked, refused, ledger, return_alternates)
        timings["total"] = perf_counter() - started
        LOG.info("select_destinations %s: %d instance(s) %s, %d host(s) considered, chosen %s, %.1f ms",
                 reservation, count, ",".join(work.instance_uuids), len(hosts),
                 ",".join(p.host.host for p in placed), timings["total"] * 1000)
        return ScheduleResult(reservation_id=reservation, selections=selections,
                              instance_uuids=list(work.instance_uuids), timings=timings,
                              migration_uuid=move.migration if move else None)

    def _setup_group(self, spec: RequestSpec) -> None:
        """Take the server group from the registry (members, hosts, rules), merged with what the spec says.

        The registry is what enforces a hard policy, so a group it does not know is refused.
        """
        given = spec.instance_group
        hint = spec.scheduler_hints.get("group") or []
        uuid = given.uuid if given is not None else (hint[0] if hint else None)
        if uuid is None:
            return
        try:
            registered = self.registry.get_group(uuid)
        except (RegistryNotFound, InvalidInput):
            raise InvalidRequestSpec(f"instance_group: server group {uuid} is not registered") from None
        if given is not None and given.policy != registered.policy:
            raise InvalidRequestSpec(
                f"instance_group.policy: {given.policy!r} but server group {uuid} has policy {registered.policy!r}")
        group = registered.to_spec()
        if given is not None:
            group.members = sorted(set(group.members) | set(given.members))
            group.hosts = sorted(set(group.hosts) | set(given.hosts))
        spec.instance_group = group

    def _claim_first(self, ordered: Sequence[HostState], instance: str, spec: RequestSpec, ledger: Ledger,
                     refused: set[str], move: _Move | None, placed: list[_Placed]) -> _Placed | None:
        """Claim on the first host that takes it; the claim is appended to ``placed`` before anything else."""
        for host in ordered:
            if host.uuid in refused:
                continue
            chosen = self._claim_on(host, instance, spec, ledger, move, placed)
            if chosen is not None:
                return chosen
            refused.add(host.uuid)
        return None

    def _claim_on(self, host: HostState, instance: str, spec: RequestSpec, ledger: Ledger, move: _Move | None,
                  placed: list[_Placed]) -> _Placed | None:
        tries = 0
        for request in host.allocation_candidates:
            if tries == _CLAIMS_PER_HOST:
                break
            if not ledger.fits(request):
                continue  # used up by an earlier instance of this request
            tries += 1
            try:
                claim(self.placement, instance, request, project_id=spec.project_id, user_id=spec.user_id)
            except Conflict as exc:
                if is_consumer_conflict(exc):
                    raise ConsumerInUse(
                        f"instance {instance} already holds allocations in placement; "
                        "a move goes through schedule_move") from None
                LOG.debug("claim for %s on %s lost a race: %s", instance, host.host, exc.detail)
                continue
            except (BadRequest, NotFound) as exc:
                # A provider or class of the candidate was deleted since the query.
                LOG.info("claim for %s on %s refused, candidate stale: %s", instance, host.host, exc.detail)
                continue
            chosen = _Placed(instance, host, request)
            placed.append(chosen)
            try:
                self._join_group(chosen, spec, move)
            except GroupPolicyViolation as exc:
                placed.pop()
                delete_claim(self.placement, instance)
                LOG.info("server group refused %s on %s: %s", instance, host.host, exc)
                return None
            ledger.take(request)
            return chosen
        return None

    def _join_group(self, chosen: _Placed, spec: RequestSpec, move: _Move | None) -> None:
        group = spec.instance_group
        if group is None:
            return
        if move is None:
            self.registry.add_group_member(group.uuid, chosen.instance, chosen.host.host)
            chosen.group = group.uuid
        else:
            migrations.hold_group_for_move(self.registry, group.uuid, chosen.instance, move.migration,
                                           chosen.host.host, move.source)
            chosen.move_hold = True

    def _consume(self, chosen: _Placed, spec: RequestSpec, ledger: Ledger, fields: dict[str, Any],
                 move: _Move | None) -> None:
        """Record the placed instance (boots) and let the later instances of the request see it."""
        host = chosen.host
        if move is None:  # a moving instance stays recorded on its source until confirm
            _, chosen.recorded = self.registry.record_instance(chosen.instance, host.host, **fields)
        info = InstanceInfo(uuid=chosen.instance, flavor_name=fields["flavor_name"], vcpus=fields["vcpus"],
                            memory_mb=fields["memory_mb"], root_gb=fields["root_gb"],
                            project_id=fields["project_id"], image_id=fields["image_id"],
                            task_state=fields["task_state"])
        host.consume(info, ledger.tree_resources(chosen.request, host.uuid))
        group = spec.instance_group
        if group is not None:
            if chosen.instance not in group.members:
                group.members.append(chosen.instance)
            if host.host not in group.hosts:
                group.hosts.append(host.host)
        if spec.requested_resources:
            apply_mappings(spec, chosen.request.get("mappings") or {})

    def _mark_moving(self, move: _Move, dest: str, fields: dict[str, Any]) -> None:
        try:
            self.registry.set_task_state(move.instance, migrations.MOVING_TASK_STATE)
        except InvalidInput:
            # Not recorded yet: it is (still) where its source allocations are.
            self.registry.record_instance(move.instance, move.source or dest,
                                          **{**fields, "task_state": migrations.MOVING_TASK_STATE})

    def _undo(self, placed: list[_Placed], move: _Move | None) -> None:
        """Remove every claim, membership and record this call made (best effort, each step on its own)."""
        for p in reversed(placed):
            try:
                delete_claim(self.placement, p.instance)
            except Exception:
                LOG.exception("could not delete the claim of %s while rolling back", p.instance)
            try:
                if p.move_hold and move is not None and move.source is not None:
                    migrations.finish_move(self.registry, p.instance, move.migration, move.source)
                elif p.recorded:
                    self.registry.remove_instance(p.instance)
                elif p.group is not None:
                    self.registry.remove_group_member(p.group, p.instance)
            except Exception:
                LOG.exception("could not roll back the registry for %s", p.instance)

    # ---- the answer ---------------------------------------------------------------------------

    def _selections(self, placed: list[_Placed], ranked: list[list[HostState]], refused: set[str], ledger: Ledger,
                    return_alternates: bool) -> list[list[Selection]]:
        chosen = {p.host.uuid for p in placed}
        wanted = max(0, self.config.max_attempts - 1) if return_alternates else 0
        out = []
        for p, ordered in zip(placed, ranked):
            row = [self._selection(p.host, p.request)]
            for host in ordered:
                if len(row) > wanted:
                    break
                if host.uuid in chosen or host.uuid in refused or host.cell != p.host.cell:
                    continue
                request = next((r for r in host.allocation_candidates if ledger.fits(r)), None)
                if request is not None:
                    row.append(self._selection(host, request))
            out.append(row)
        return out

    def _selection(self, host: HostState, request: dict[str, Any]) -> Selection:
        zones = sorted({a.metadata["availability_zone"] for a in host.aggregates
                        if a.metadata.get("availability_zone")})
        return Selection(host=host.host, nodename=host.nodename, compute_node_uuid=host.uuid, cell=host.cell,
                         allocation_request=copy.deepcopy(request), allocation_request_version=PLACEMENT_MICROVERSION,
                         availability_zone=",".join(zones) or self.config.default_availability_zone,
                         limits=dict(host.limits))

    # ---- lookups ------------------------------------------------------------------------------

    def _host_of(self, allocations: dict[str, Any]) -> str | None:
        """The registered host whose tree holds ``allocations`` (provider uuid -> ...), or None."""
        states = self.registry.host_states(list(allocations))
        if not states:
            # Only nested providers: ask placement for their roots.
            roots = set()
            for rp in allocations:
                try:
                    body = self.placement.request("GET", f"/resource_providers/{rp}",
                                                  microversion=PLACEMENT_MICROVERSION)
                except NotFound:
                    continue
                roots.add(body["root_provider_uuid"])
            states = self.registry.host_states(roots)
        return min((s.host for s in states.values()), default=None)

    def _migration_allocations(self, migration: str) -> dict[str, Any]:
        held = migrations.consumer_allocations(self.placement, migration)["allocations"]
        if not held:
            raise migrations.MigrationNotFound(
                f"migration {migration} holds no allocations: it is unknown, or already confirmed or reverted")
        return dict(held)


# ---- helpers ---------------------------------------------------------------------------------


def _check_spec(spec: Any) -> None:
    if not isinstance(spec, RequestSpec):
        raise InvalidRequestSpec(f"expected a RequestSpec, got {type(spec).__name__}")
    spec.validate()
    for name in ("project_id", "user_id"):
        if not getattr(spec, name):
            raise InvalidRequestSpec(f"{name}: required to claim resources in placement")


def _instance_fields(spec: RequestSpec) -> dict[str, Any]:
    """What the registry records about each instance; checked before anything is claimed."""
    flavor = spec.flavor
    fields = {"flavor_name": flavor.name, "vcpus": flavor.vcpus, "memory_mb": flavor.memory_mb,
              "root_gb": flavor.root_gb, "project_id": spec.project_id or None, "image_id": spec.image.id,
              "task_state": SCHEDULING_TASK_STATE}
    try:
        return check_fields(fields)
    except InvalidInput as exc:
        raise InvalidRequestSpec(f"the registry cannot record the instance: {exc.detail}") from None


def _uuid(value: Any, what: str) -> str:
    try:
        parsed = uuidlib.UUID(value) if isinstance(value, str) and len(value) == 36 else None
    except ValueError:
        parsed = None
    if parsed is None:
        raise InvalidRequestSpec(f"{what}: {value!r} is not a uuid")
    return str(parsed)


def _nothing_offered(answer: dict[str, Any]) -> str:
    offered = len(answer.get("allocation_requests") or ())
    if not offered:
        return "placement found no allocation candidates for the request"
    return f"placement offered {offered} allocation request(s), none of them on a registered host"


def _filter_reason(result: FilterResult, narrowed: list[HostState], index: int, count: int) -> str:
    reason = result.reason() if narrowed else "no candidate host is left after the requested, ignored and forced hosts"
    if count > 1:
        reason += f" (placing instance {index + 1} of {count})"
    return reason
