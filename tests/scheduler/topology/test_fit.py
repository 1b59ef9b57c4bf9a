"""NUMA fitting and CPU pinning, the cases Nova's hardware tests document, in our own words and code.

Each test names the Nova case it follows (nova/tests/unit/virt/test_hardware.py): same host,
same instance, same answer (fits or not, which host cells, which CPUs where Nova asserts them).
"""

from __future__ import annotations

from allotment.scheduler.topology.fit import Limits, fit_cell, fit_instance
from allotment.scheduler.topology.usage import CellUsage, HostUsage
from tests.scheduler.topology.helpers import SMALL_PAGES, cell, host, request, usage

LIMITS = Limits(cpu_allocation_ratio=2, ram_allocation_ratio=2)


def pins(got):  # {guest vcpu: host cpu} of a CellFit
    return dict(got.pinning)


# ---- one cell: CPUPinningCellTestCase ---------------------------------------------------------


def test_instance_larger_than_the_cell_does_not_fit():  # test_get_pinning_inst_too_large_cpu
    c = cell(0, pcpus={0, 1, 2}, pages=SMALL_PAGES)
    assert fit_cell(c, CellUsage(), request(((), {0, 1, 2, 3}, 2048)).cells[0], request(), LIMITS) is None


def test_one_pinned_cpu_leaves_too_few():  # test_get_pinning_inst_not_avail
    c = cell(0, pcpus={0, 1, 2, 3}, pages=SMALL_PAGES)
    req = request(((), {0, 1, 2, 3}, 2048))
    assert fit_cell(c, CellUsage(pinned={0}), req.cells[0], req, LIMITS) is None


def test_no_siblings_pins_in_order():  # test_get_pinning_no_sibling_fits_empty
    c = cell(0, pcpus={0, 1, 2}, pages=SMALL_PAGES)
    req = request(((), {0, 1, 2}, 2048))
    assert pins(fit_cell(c, CellUsage(), req.cells[0], req, LIMITS)) == {0: 0, 1: 1, 2: 2}


def test_no_siblings_skips_pinned_cpus():  # test_get_pinning_no_sibling_fits_w_usage
    c = cell(0, pcpus={0, 1, 2, 3}, pages=SMALL_PAGES)
    req = request(((), {0, 1, 2}, 1024))
    assert pins(fit_cell(c, CellUsage(pinned={1}), req.cells[0], req, LIMITS)) == {0: 0, 1: 2, 2: 3}


def test_host_siblings_fill_cores():  # test_get_pinning_instance_siblings_host_siblings_fits_empty(_2)
    c = cell(0, pcpus=range(8), memory=4096, siblings=[{0, 1}, {2, 3}, {4, 5}, {6, 7}], pages=SMALL_PAGES)
    req = request(((), range(8), 2048))
    assert pins(fit_cell(c, CellUsage(), req.cells[0], req, LIMITS)) == {x: x for x in range(8)}


def test_siblings_with_usage():  # test_get_pinning_instance_siblings_host_siblings_fits_w_usage
    c = cell(0, pcpus=range(8), memory=4096, siblings=[{0, 1, 2, 3}, {4, 5, 6, 7}])
    req = request(((), {0, 1, 2, 3}, 2048))
    got = fit_cell(c, CellUsage(pinned={1, 2, 5, 6}), req.cells[0], req, LIMITS)
    assert pins(got) == {0: 0, 1: 3, 2: 4, 3: 7}


def test_single_core_holds_the_instance():  # test_get_pinning_host_siblings_fit_single_core
    c = cell(0, pcpus=range(8), memory=4096, siblings=[{0, 1, 2, 3}, {4, 5, 6, 7}])
    req = request(((), {0, 1, 2, 3}, 2048))
    assert pins(fit_cell(c, CellUsage(), req.cells[0], req, LIMITS)) == {0: 0, 1: 1, 2: 2, 3: 3}


def test_require_needs_siblings():  # test_get_pinning_require_policy_no_siblings
    c = cell(0, pcpus=range(8), memory=4096)
    req = request(((), {0, 1, 2, 3}, 2048), threads="require")
    assert fit_cell(c, CellUsage(), req.cells[0], req, LIMITS) is None


def test_require_with_too_few_free_sibling_pairs():  # test_get_pinning_require_policy_too_few_siblings
    c = cell(0, pcpus=range(8), memory=4096, siblings=[{0, 4}, {1, 5}, {2, 6}, {3, 7}])
    req = request(((), {0, 1, 2, 3}, 2048), threads="require")
    assert fit_cell(c, CellUsage(pinned={0, 1, 2}), req.cells[0], req, LIMITS) is None


def test_require_fits_on_free_pairs():  # test_get_pinning_require_policy_fits_w_usage
    c = cell(0, pcpus=range(8), memory=4096, siblings=[{0, 4}, {1, 5}, {2, 6}, {3, 7}])
    req = request(((), {0, 1, 2, 3}, 2048), threads="require")
    got = fit_cell(c, CellUsage(pinned={0, 1}), req.cells[0], req, LIMITS)
    assert pins(got) == {0: 2, 1: 6, 2: 3, 3: 7}


def test_odd_instance_prefers_threads():  # test_get_pinning_host_siblings_large_instance_odd_fit
    c = cell(0, pcpus=range(16), memory=4096, siblings=[{i, i + 8} for i in range(8)])
    req = request(((), range(5), 2048))
    got = fit_cell(c, CellUsage(), req.cells[0], req, LIMITS)
    # Both threads of the first cores, then one of the next: 3 cores for 5 vCPUs.
    assert pins(got) == {0: 0, 1: 8, 2: 1, 3: 9, 4: 2}


def test_orphan_threads_only():  # test_get_pinning_host_siblings_instance_odd_fit_orphan_only
    c = cell(0, pcpus=range(8), memory=4096, siblings=[{0, 1}, {2, 3}, {4, 5}, {6, 7}])
    req = request(((), {0, 1, 2, 3}, 2048))
    got = fit_cell(c, CellUsage(pinned={0, 2, 5, 6}), req.cells[0], req, LIMITS)
    assert pins(got) == {0: 1, 1: 3, 2: 4, 3: 7}


def test_isolate_needs_fully_free_cores():  # test_get_pinning_isolate_policy_too_few_fully_free_cores
    c = cell(0, cpus={0, 1, 2, 3}, pcpus={0, 1, 2, 3}, memory=4096, siblings=[{0, 1}, {2, 3}])
    req = request(((), {0, 1}, 2048), threads="isolate")
    assert fit_cell(c, CellUsage(pinned={1}), req.cells[0], req, LIMITS) is None
    assert fit_cell(c, CellUsage(pinned={1, 2}), req.cells[0], req, LIMITS) is None


def test_isolate_fits_without_smt():  # test_get_pinning_isolate_policy_fits
    c = cell(0, cpus={0, 1, 2, 3}, pcpus={0, 1, 2, 3}, memory=4096)
    req = request(((), {0, 1}, 2048), threads="isolate")
    assert pins(fit_cell(c, CellUsage(), req.cells[0], req, LIMITS)) == {0: 0, 1: 1}


def test_isolate_on_legacy_ht_host_takes_siblings():  # test_get_pinning_isolate_policy_fits_w_usage
    c = cell(0, cpus=range(8), pcpus=range(8), memory=4096, siblings=[{0, 4}, {1, 5}, {2, 6}, {3, 7}])
    req = request(((), {0, 1}, 2048), threads="isolate")
    got = fit_cell(c, CellUsage(pinned={0, 1}), req.cells[0], req, LIMITS)
    assert pins(got) == {0: 2, 1: 3}
    assert got.taken == {2, 6, 3, 7}


def test_isolate_refused_on_ht_host_with_split_sets():  # test_get_pinning_isolate_policy_bug_1889633
    c = cell(0, cpus={0, 1, 4, 5}, pcpus={2, 3, 6, 7}, memory=4096, siblings=[{0, 4}, {1, 5}, {2, 6}, {3, 7}])
    req = request(((), {0, 1}, 2048), threads="isolate")
    assert fit_cell(c, CellUsage(), req.cells[0], req, LIMITS) is None


def test_mixed_needs_shared_cpus_too():  # test_get_pinning_mixed_policy_bug_1898272
    c = cell(0, pcpus=range(4), memory=4096, siblings=[{0, 2}, {1, 3}])
    req = request(({0}, {1, 2, 3}, 2048), policy="mixed")
    assert fit_cell(c, CellUsage(), req.cells[0], req) is None


# ---- whole hosts: CPUPinningTestCase, EmulatorThreadsTestCase -------------------------------


def two_cells(pcpus_per_cell: int = 2, memory: int = 2048):
    return host(cell(0, pcpus=range(pcpus_per_cell), memory=memory),
                cell(1, pcpus=range(pcpus_per_cell, 2 * pcpus_per_cell), memory=memory))


def test_single_guest_cell_goes_to_the_free_cell():  # test_host_numa_fit_instance_to_host_single_cell_w_usage
    got = fit_instance(two_cells(), usage({0: {"pinned": {0}}}), request(((), {0, 1}, 2048)))
    assert [c.host_cell for c in got.cells] == [1]
    assert pins(got.cells[0]) == {0: 2, 1: 3}


def test_single_guest_cell_fails_when_both_cells_are_used():  # ..._single_cell_fail
    assert fit_instance(two_cells(), usage({0: {"pinned": {0}}, 1: {"pinned": {2}}}),
                        request(((), {0, 1}, 2048))) is None


def test_two_guest_cells_on_two_host_cells():  # test_host_numa_fit_instance_to_host_fit
    got = fit_instance(two_cells(4), HostUsage(), request(((), {0, 1}, 2048), ((), {2, 3}, 2048)))
    assert sorted(c.host_cell for c in got.cells) == [0, 1]


def test_barely_fits_on_the_emptier_cells():  # test_host_numa_fit_instance_to_host_barely_fit
    h = host(cell(0, pcpus=range(4)), cell(1, pcpus=range(4, 8)), cell(2, pcpus=range(8, 12)))
    got = fit_instance(h, usage({0: {"pinned": {0}}, 1: {"pinned": {4, 5, 6}}, 2: {"pinned": {10, 11}}}),
                       request(((), {0, 1}, 2048), ((), {2, 3}, 2048)))
    assert sorted(c.host_cell for c in got.cells) == [0, 2]


def test_fails_for_capacity():  # test_host_numa_fit_instance_to_host_fail_capacity
    assert fit_instance(two_cells(4, 4096), usage({0: {"pinned": {0}}, 1: {"pinned": {4, 5, 6}}}),
                        request(((), {0, 1}, 2048), ((), {2, 3}, 2048))) is None


def test_more_guest_cells_than_host_cells():  # test_host_numa_fit_instance_to_host_fail_topology
    assert fit_instance(two_cells(4, 4096), HostUsage(),
                        request(((), {0, 1}, 1024), ((), {2, 3}, 1024), ((), {4, 5}, 1024))) is None


def emulator_host():  # EmulatorThreadsTestCase._host_topology
    return host(cell(0, pcpus={0, 1}, pages=SMALL_PAGES, socket=0), cell(1, pcpus={2, 3}, pages=SMALL_PAGES, socket=0))


def test_emulator_threads_not_isolated_reserve_nothing():  # test_single_node_not_defined / _shared
    for policy in (None, "share"):
        got = fit_instance(emulator_host(), HostUsage(), request(((), {0}, 2048), emulator=policy))
        assert pins(got.cells[0]) == {0: 0} and got.cells[0].emulator == frozenset()


def test_emulator_threads_isolated_take_one_more_cpu():  # test_single_node_isolate
    got = fit_instance(emulator_host(), HostUsage(), request(((), {0}, 2048), emulator="isolate"))
    assert pins(got.cells[0]) == {0: 0} and got.cells[0].emulator == {1}


def test_emulator_threads_isolated_exceeded():  # test_single_node_isolate_exceeded
    assert fit_instance(emulator_host(), HostUsage(), request(((), {0, 1, 2, 4}, 2048), emulator="isolate")) is None


def test_emulator_cpu_on_the_first_guest_cell_only():  # test_multi_nodes_isolate, _full_usage
    got = fit_instance(emulator_host(), HostUsage(), request(((), {0}, 2048), ((), {1}, 2048), emulator="isolate"))
    assert [pins(c) for c in got.cells] == [{0: 0}, {1: 2}]
    assert [set(c.emulator) for c in got.cells] == [{1}, set()]
    got = fit_instance(emulator_host(), HostUsage(), request(((), {0}, 2048), ((), {1, 2}, 2048), emulator="isolate"))
    assert [pins(c) for c in got.cells] == [{0: 0}, {1: 2, 2: 3}]
    assert fit_instance(emulator_host(), HostUsage(),
                        request(((), {0, 1}, 2048), ((), {2}, 2048), emulator="isolate")) is None


def test_emulator_and_isolate_threads():  # test_isolate_w_isolate_thread_alloc(_usage)
    h = host(cell(0, cpus=range(6), pcpus=range(6), siblings=[{0, 1}, {2, 3}, {4, 5}], pages=SMALL_PAGES))
    req = request(((), {0, 1}, 2048), emulator="isolate", threads="isolate")
    got = fit_instance(h, HostUsage(), req)
    assert pins(got.cells[0]) == {0: 0, 1: 2} and got.cells[0].emulator == {4}
    got = fit_instance(h, usage({0: {"pinned": {0}}}), req)
    assert pins(got.cells[0]) == {0: 2, 1: 4} and got.cells[0].emulator == {1}


def test_asymmetric_host_ignores_siblings_when_it_must():  # test_asymmetric_host
    h = host(cell(0, pcpus={1, 2, 3}, siblings=[{1}, {2, 3}], pages=SMALL_PAGES))
    got = fit_instance(h, HostUsage(), request(((), {0, 1}, 2048), emulator="isolate"))
    assert pins(got.cells[0]) == {0: 2, 1: 3} and got.cells[0].emulator == {1}


def mixed_host():  # EmulatorThreadsTestCase._test_mixed_instance
    return host(cell(0, cpus={4, 5, 6, 7}, pcpus={0, 1, 2, 3}, memory=4096, siblings=[{c} for c in range(8)],
                     pages=SMALL_PAGES))


def test_mixed_instance_pins_only_its_dedicated_cpus():  # test_mixed_instance_not_define / _shared / _isolated
    used = usage({0: {"pinned": {0}, "shared": 2}})
    for policy, reserved in ((None, set()), ("share", set()), ("isolate", {3})):
        got = fit_instance(mixed_host(), used, request(({0, 1}, {2, 3}, 2048), policy="mixed", emulator=policy))
        assert pins(got.cells[0]) == {2: 1, 3: 2}
        assert set(got.cells[0].emulator) == reserved
        assert got.cells[0].shared_cpus == 2


# ---- shared CPUs and limits: VirtNUMAHostTopologyTestCase ----------------------------------


def shared_host():
    return host(cell(1, cpus={1, 2}, pages=SMALL_PAGES, socket=0), cell(2, cpus={3, 4}, pages=SMALL_PAGES, socket=0))


def busy():
    return usage({1: {"shared": 2, "memory": 2048}, 2: {"shared": 2, "memory": 2048}})


def test_shared_fits_without_limits_even_when_busy():  # test_get_fitting_success_no_limits
    first = fit_instance(shared_host(), busy(), request(({1, 2}, (), 2048), policy=None))
    assert first is not None
    used = busy()
    used.add(first)
    assert fit_instance(shared_host(), used, request(({1, 2}, (), 1024), policy=None)) is not None


def test_shared_within_limits_takes_the_first_cell():  # test_get_fitting_success_limits
    got = fit_instance(shared_host(), busy(), request(({1, 2}, (), 1024), policy=None), limits=LIMITS)
    assert [c.host_cell for c in got.cells] == [1]


def test_more_vcpus_than_the_cell_has():  # test_get_fitting_fails_no_limits
    assert fit_instance(shared_host(), busy(), request(({1, 2, 3, 4}, (), 1024), policy=None), limits=LIMITS) is None


def test_limits_accumulate():  # test_get_fitting_cumulative_success_limits / _fails_limits
    used = busy()
    first = fit_instance(shared_host(), used, request(({1, 2}, (), 2048), policy=None), limits=LIMITS)
    assert [c.host_cell for c in first.cells] == [1]
    used.add(first)
    second = fit_instance(shared_host(), used, request(({1, 2}, (), 1024), policy=None), limits=LIMITS)
    assert [c.host_cell for c in second.cells] == [2]
    assert fit_instance(shared_host(), used, request(({1, 2, 3, 4}, (), 1024), policy=None), limits=LIMITS) is None


# ---- memory and pages: VirtNUMATopologyCellUsageTestCase, VirtMemoryPagesTestCase ------------


def test_cell_memory_without_page_sizes():  # test_fit_instance_cell_no_host_mempages
    c = cell(0, cpus={1, 2}, memory=1024)
    small, large = request(({1, 2}, (), 1024), policy=None), request(({1, 2}, (), 4096), policy=None)
    assert fit_cell(c, CellUsage(), small.cells[0], small) is not None
    assert fit_cell(c, CellUsage(), large.cells[0], large) is None


def test_huge_pages_fit_by_free_count():  # test_fit_instance_cell_mempages
    c = cell(0, cpus={1, 2}, memory=1024, pages=((4, 256), (1048576, 1)))
    req = request(({1, 2}, (), 1024), policy=None, pagesize=1048576)
    got = fit_cell(c, CellUsage(), req.cells[0], req)
    assert got is not None and got.pagesize_kb == 1048576
    assert fit_cell(c, CellUsage(pages={1048576: 1}), req.cells[0], req) is None
    too_big = request(({1, 2}, (), 2048), policy=None, pagesize=1048576)
    assert fit_cell(c, CellUsage(), too_big.cells[0], too_big) is None


def test_page_size_the_host_lacks():  # test_cell_accepts_request_host_mempages
    c = cell(0, cpus={1, 2}, memory=1024, pages=((4, 262144),))
    req = request(({1, 2}, (), 1024), policy=None, pagesize=2048)
    assert fit_cell(c, CellUsage(), req.cells[0], req) is None


def test_large_and_any_pick_the_biggest_that_fits():  # test_cell_instance_pagesize
    c = cell(0, cpus={1, 2}, memory=4096, pages=((4, 1048576), (2048, 2048), (1048576, 1)))
    for size, expected in ((-2, 1048576), (-3, 1048576), (-1, 4)):
        req = request(({1}, (), 1024), policy=None, pagesize=size)
        assert fit_cell(c, CellUsage(), req.cells[0], req).pagesize_kb == expected
    req = request(({1}, (), 1536), policy=None, pagesize=-2)  # 1 GiB pages cannot hold 1.5 GiB exactly
    assert fit_cell(c, CellUsage(), req.cells[0], req).pagesize_kb == 2048


def test_pinned_memory_is_never_overcommitted():
    c = cell(0, pcpus={0, 1}, memory=2048, pages=SMALL_PAGES)
    req = request(((), {0}, 2048))
    used = CellUsage()
    got = fit_cell(c, used, req.cells[0], req)
    h = HostUsage({0: used})
    h.add(type("F", (), {"cells": (got,), "devices": ()})())  # type: ignore[arg-type]
    assert fit_cell(c, h.cell(0), request(((), {0}, 1024)).cells[0], req) is None
