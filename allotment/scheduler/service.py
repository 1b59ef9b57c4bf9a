"""The scheduler service: boots (``select_destinations``), ``release``, and moves.

Each call validates its spec once, builds the request's ``CycleState`` (the spec is never
written to after that: per-instance values live in the state), and runs the phases of
``allotment.scheduler.cycle``. Everything is all-or-nothing: if fewer than N instances are
placed, every claim, membership and instance record the call made is removed again.

Moves (resize, cold migrate) hold two consumers, the instance and the migration; see
``allotment.scheduler.moves``.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import uuid as uuidlib
from time import perf_counter
from typing import Any

from allotment.client import NotFound, PlacementClient
from allotment.scheduler import metrics, moves
from allotment.scheduler.capacity import CapacityAnswer, count_capacity
from allotment.scheduler.claims import delete_claim
from allotment.scheduler.config import SchedulerConfig
from allotment.scheduler.cycle.run import run_cycle
from allotment.scheduler.cycle.state import Context, CycleState, Move
from allotment.scheduler.decisions import DecisionLog
from allotment.scheduler.errors import InvalidInput, InvalidRequestSpec, MoveError, NoValidHost
from allotment.scheduler.errors import NotFound as RegistryNotFound
from allotment.scheduler.placement_query import PLACEMENT_MICROVERSION
from allotment.scheduler.plugins import load_filters, load_weighers
from allotment.scheduler.provider_graph import GraphCache
from allotment.scheduler.registry import Registry
from allotment.scheduler.registry.instances import check_fields
from allotment.scheduler.selection import ScheduleResult, Selection
from allotment.scheduler.spec import RequestSpec
from allotment.scheduler.topology.fit import Limits, fit_instance
from allotment.scheduler.topology.translate import allowed_devices, request_of
from allotment.scheduler.topology.usage import Fit

__all__ = ["SCHEDULING_TASK_STATE", "Scheduler"]

LOG = logging.getLogger(__name__)

SCHEDULING_TASK_STATE = "scheduling"


class Scheduler:
    def __init__(self, placement: PlacementClient, registry: Registry, config: SchedulerConfig, *,
                 rng: random.Random | None = None) -> None:
        # Queries, claims and the Selections' allocation_request_version all use one microversion.
        self.placement = placement.at(PLACEMENT_MICROVERSION)
        self.registry = registry
        self.config = config
        self.rng = rng if rng is not None else random.Random()
        self.filters = load_filters(config)
        self.weighers = load_weighers(config)
        self._once_per_request = frozenset(f.name() for f in self.filters if f.run_filter_once_per_request)
        self.decisions = DecisionLog(max(config.decision_log_size, 1))
        self._graphs = GraphCache()  # explanations and capacity counts read placement's whole graph

    # ---- boots ------------------------------------------------------------------------------

    def select_destinations(self, spec: RequestSpec, *, return_alternates: bool = True,
                            dry_run: bool = False) -> ScheduleResult:
        """Claim a host for every instance of ``spec``; per instance the claimed host, then alternates.

        ``dry_run``: decide the same way but claim nothing and write nothing to the registry;
        the result carries the decision (filters' counts, weights per weigher).
        Raises InvalidRequestSpec or FilterError (bad request), NoValidHost (nothing claimed
        is left behind; ``explanation`` says what ruled the hosts out), ConsumerInUse (an
        instance uuid already holds allocations).
        """
        _check_spec(spec)
        state = self._state(spec, return_alternates=return_alternates, move=None)
        state.dry_run = dry_run
        result = self._run("boot", state)
        LOG.info("select_destinations %s%s: %d instance(s) %s, %d host(s) considered, chosen %s, %.1f ms",
                 state.reservation, " (dry run)" if dry_run else "", len(state.instance_uuids),
                 ",".join(state.instance_uuids), len(state.hosts),
                 ",".join(p.host.host for p in state.placed), state.timings["total"] * 1000)
        return result

    def capacity(self, spec: RequestSpec, *, by: str | None = None) -> CapacityAnswer:
        """How many instances like one of ``spec``'s fit now, in total and grouped ``by`` az, aggregate, cell or host."""
        _check_spec(spec)
        try:
            return count_capacity(self.placement, self.registry, self.config, self.filters, spec, by=by,
                                  graphs=self._graphs)
        except ValueError as exc:
            if isinstance(exc, InvalidRequestSpec):
                raise
            raise InvalidRequestSpec(str(exc)) from None

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
                self.registry.remove_instance(instance)  # its group membership and topology claims go with it
            except RegistryNotFound:
                self.registry.release_topology(instance)
        LOG.info("released reservation %s: %s", result.reservation_id, ", ".join(result.instance_uuids))

    def pin_alternate(self, spec: RequestSpec, instance_uuid: str, selection: Selection) -> Fit | None:
        """Record the NUMA/PCI fit of an instance whose alternate was claimed after ``select_destinations``.

        A conductor that claims an alternate's stored allocation request itself (a retried
        build) calls this next: the fit is computed in the registry's transaction against
        every claim on the host, as the scheduler's own claims are. None when the spec asks
        nothing of topology; TopologyClaimFailed (409) when the instance no longer fits, and
        the caller drops its placement claim and tries the next alternate.
        """
        _check_spec(spec)
        request = request_of(spec, self.config)
        if not request.asks_anything:
            return None
        _, inventories = self.placement.get_inventories(selection.compute_node_uuid)
        limits = Limits(cpu_allocation_ratio=inventories["VCPU"].allocation_ratio if "VCPU" in inventories else 1.0,
                        ram_allocation_ratio=inventories["MEMORY_MB"].allocation_ratio
                        if "MEMORY_MB" in inventories else 1.0)
        allowed = allowed_devices(request, selection.allocation_request)
        pack = self.config.packing_host_numa_cells_allocation_strategy
        return self.registry.claim_topology(
            selection.host, _uuid(instance_uuid, "instance_uuid"),
            lambda topology, usage: fit_instance(topology, usage, request, limits=limits, pack=pack,
                                                 allowed_devices=allowed))

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
        held = moves.to_migration(self.placement, instance, migration)
        moved = perf_counter() - started
        try:
            source = self._host_of(held.allocations)
            if source is not None and not self.config.allow_resize_to_same_host and source not in spec.ignore_hosts:
                spec = dataclasses.replace(spec, ignore_hosts=[*spec.ignore_hosts, source])
            state = self._state(spec, return_alternates=True, move=Move(instance, migration, source))
            result = self._run("move", state)
        except BaseException:
            try:
                moves.to_instance(self.placement, instance, migration)
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
        moves.migration_allocations(self.placement, migration)  # MigrationNotFound before touching anything
        current = moves.held_by(self.placement, instance).allocations
        dest = self._host_of(current) if current else None
        if dest is None:
            raise MoveError(f"instance {instance} holds no allocations on a registered host to confirm")
        # Registry first: run again after a failure, both steps still apply.
        self.registry.finish_move(instance, migration, dest)
        moves.drop_migration(self.placement, migration)
        LOG.info("confirmed move of %s to %s (migration %s)", instance, dest, migration)

    def revert_move(self, instance_uuid: str, migration_uuid: str) -> None:
        """The instance goes back: one POST puts the migration's allocations back on it and empties the migration."""
        instance = _uuid(instance_uuid, "instance_uuid")
        migration = _uuid(migration_uuid, "migration_uuid")
        source = self._host_of(moves.migration_allocations(self.placement, migration))
        if source is not None:
            self.registry.finish_move(instance, migration, source)
        moves.to_instance(self.placement, instance, migration)
        LOG.info("reverted move of %s back to %s (migration %s)", instance, source, migration)

    # ---- one request --------------------------------------------------------------------------

    def _run(self, kind: str, state: CycleState) -> ScheduleResult:
        """Run the cycle; log the decision (``self.decisions``) and count it for /metrics, placed or not."""
        outcome, reason, result = "error", None, None
        try:
            result = run_cycle(self._context(), state)
            outcome = "placed"
            return result
        except NoValidHost as exc:
            outcome, reason = "no_valid_host", exc.reason
            raise
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            if result is None:
                state.finish()
            timings = result.timings if result is not None else state.timings
            selections = result.selections if result is not None else []
            metrics.observe_decision(kind, outcome, timings, len(state.hosts))
            self.decisions.add(
                kind=kind, reservation_id=state.reservation, outcome=outcome, flavor=state.spec.flavor.name,
                num_instances=len(state.instance_uuids), hosts=[s[0].host for s in selections],
                alternates=sum(len(s) - 1 for s in selections), hosts_considered=len(state.hosts), reason=reason,
                timings_ms={k: round(v * 1000, 3) for k, v in timings.items()})

    def _context(self) -> Context:
        return Context(placement=self.placement, registry=self.registry, config=self.config, rng=self.rng,
                       filters=self.filters, weighers=self.weighers, once_per_request=self._once_per_request,
                       graphs=self._graphs)

    def _state(self, spec: RequestSpec, *, return_alternates: bool, move: Move | None) -> CycleState:
        """The request's state; ``spec`` is already validated."""
        uuids = tuple(spec.instance_uuids) or tuple(str(uuidlib.uuid4()) for _ in range(spec.num_instances))
        return CycleState(spec=spec, instance_uuids=uuids, fields=_instance_fields(spec),
                          reservation=f"r-{uuidlib.uuid4().hex[:12]}", return_alternates=return_alternates,
                          move=move)

    def _host_of(self, allocations: dict[str, Any]) -> str | None:
        """The registered host whose tree holds ``allocations`` (provider uuid -> ...), or None."""
        states = self.registry.host_states(list(allocations))
        if not states:
            # Only nested providers: ask placement for their roots.
            roots = set()
            for rp in allocations:
                try:
                    root = self.placement.get_provider(rp).root_provider_uuid
                except NotFound:
                    continue
                if root is not None:
                    roots.add(root)
            states = self.registry.host_states(roots)
        return min((s.host for s in states.values()), default=None)


def _check_spec(spec: Any) -> None:
    """The request's spec is valid: validated here unless built validated (from_flavor, from_dict)."""
    if not isinstance(spec, RequestSpec):
        raise InvalidRequestSpec(f"expected a RequestSpec, got {type(spec).__name__}")
    spec.ensure_valid()
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
