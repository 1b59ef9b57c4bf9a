"""AllHostsFilter and ComputeFilter."""

from __future__ import annotations

from allotment.scheduler.filters.all_hosts import AllHostsFilter
from allotment.scheduler.filters.compute import ComputeFilter
from allotment.scheduler.host_state import ServiceState
from tests.scheduler.filters.factories import config, host, spec


def test_all_hosts_passes_every_host_even_a_down_one() -> None:
    f = AllHostsFilter(config())
    hosts = [host("a"), host("b", service=ServiceState(up=False, disabled=True))]
    assert f.filter_all(hosts, spec()) == hosts
    assert all(f.host_passes(h, spec()) for h in hosts)
    assert AllHostsFilter.run_filter_once_per_request


def test_compute_filter_passes_an_up_enabled_host() -> None:
    assert ComputeFilter(config()).host_passes(host(), spec())


def test_compute_filter_rejects_disabled_down_and_forced_down_services() -> None:
    f = ComputeFilter(config())
    assert not f.host_passes(host(service=ServiceState(disabled=True, disabled_reason="maintenance")), spec())
    assert not f.host_passes(host(service=ServiceState(up=False)), spec())
    assert not f.host_passes(host(service=ServiceState(forced_down=True)), spec())


def test_compute_filter_runs_once_per_request() -> None:
    assert ComputeFilter.run_filter_once_per_request
