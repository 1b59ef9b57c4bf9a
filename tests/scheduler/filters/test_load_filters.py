"""NumInstancesFilter and IoOpsFilter, with their aggregate overrides."""

from __future__ import annotations

from allotment.scheduler.filters.io_ops import IoOpsFilter
from allotment.scheduler.filters.num_instances import NumInstancesFilter
from allotment.scheduler.host_state import HostState, InstanceInfo
from tests.scheduler.filters.factories import config, host, spec


def busy(h: HostState, count: int, task_state: str | None = "spawning") -> HostState:
    for i in range(count):
        uuid = f"{h.host}-{task_state}-{i}"
        h.instances[uuid] = InstanceInfo(uuid=uuid, task_state=task_state)
    return h


class TestNumInstances:
    def test_below_the_limit_passes_and_at_it_fails(self) -> None:
        f = NumInstancesFilter(config(max_instances_per_host=3))
        assert f.host_passes(host(instances=["a", "b"]), spec())
        assert not f.host_passes(host(instances=["a", "b", "c"]), spec())

    def test_aggregate_value_overrides_the_config_even_upwards(self) -> None:
        f = NumInstancesFilter(config(max_instances_per_host=3))
        assert f.host_passes(host(instances=["a", "b", "c"], aggregates=[{"max_instances_per_host": "5"}]), spec())
        assert not f.host_passes(host(instances=["a"], aggregates=[{"max_instances_per_host": "1"}]), spec())

    def test_smallest_aggregate_value_wins_and_malformed_ones_are_ignored(self) -> None:
        f = NumInstancesFilter(config(max_instances_per_host=50))
        h = host(instances=["a", "b"], aggregates=[{"max_instances_per_host": "10"}, {"max_instances_per_host": "2"}])
        assert not f.host_passes(h, spec())
        only_bad = host(instances=["a", "b"], aggregates=[{"max_instances_per_host": "lots"}])
        assert f.host_passes(only_bad, spec())
        assert not NumInstancesFilter(config(max_instances_per_host=2)).host_passes(only_bad, spec())

    def test_runs_for_every_instance(self) -> None:
        assert not NumInstancesFilter.run_filter_once_per_request


class TestIoOps:
    def test_counts_only_io_heavy_tasks(self) -> None:
        f = IoOpsFilter(config(max_io_ops_per_host=2))
        assert f.host_passes(busy(busy(host(), 1), 5, task_state=None), spec())
        assert not f.host_passes(busy(host(), 2), spec())
        assert not f.host_passes(busy(busy(host(), 1), 1, task_state="resize_migrating"), spec())

    def test_aggregate_override(self) -> None:
        f = IoOpsFilter(config(max_io_ops_per_host=8))
        assert not f.host_passes(busy(host(aggregates=[{"max_io_ops_per_host": "1"}]), 1), spec())
        assert f.host_passes(busy(host(aggregates=[{"max_io_ops_per_host": "20"}]), 10), spec())
        assert not f.host_passes(busy(host(), 10), spec())

    def test_runs_for_every_instance(self) -> None:
        assert not IoOpsFilter.run_filter_once_per_request
