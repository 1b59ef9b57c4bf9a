"""run_filters (order, per-filter counts, early stop, once-per-request) and narrow_hosts."""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import ClassVar

import pytest

from allotment.scheduler.config import DEFAULT_FILTERS, SchedulerConfig
from allotment.scheduler.filtering import FilterResult, narrow_hosts, run_filters
from allotment.scheduler.filters.affinity import ServerGroupAffinityFilter, ServerGroupAntiAffinityFilter
from allotment.scheduler.filters.compute import ComputeFilter
from allotment.scheduler.host_state import HostState, ServiceState
from allotment.scheduler.plugins import FILTER_GROUP, HostFilter, load_filters
from allotment.scheduler.spec import Destination, RequestSpec, ServerGroup
from tests.scheduler.filters.factories import host, spec

CONFIG = SchedulerConfig()


class Recording(HostFilter):
    """Passes hosts whose name is not in ``refuse``; remembers what it saw."""

    refuse: ClassVar[set[str]] = set()

    def __init__(self) -> None:
        super().__init__(CONFIG)
        self.seen: list[list[str]] = []

    def filter_all(self, hosts: list[HostState], spec: RequestSpec) -> list[HostState]:
        self.seen.append([h.host for h in hosts])
        return super().filter_all(hosts, spec)

    def host_passes(self, host: HostState, spec: RequestSpec) -> bool:
        return host.host not in self.refuse


def recording(name: str, refuse: set[str], *, once: bool = False) -> Recording:
    """A Recording filter whose class is called ``name`` (the name run_filters reports)."""
    cls = type(name, (Recording,), {"refuse": refuse, "run_filter_once_per_request": once})
    return cls()  # type: ignore[no-any-return]


def hosts(n: int) -> list[HostState]:
    return [host(f"h{i}") for i in range(n)]


def test_filters_run_in_order_on_what_the_previous_left() -> None:
    first, second = recording("First", {"h0", "h1"}), recording("Second", {"h2"})
    result = run_filters([first, second], hosts(5), spec(), first_instance=True)
    assert [h.host for h in result.hosts] == ["h3", "h4"]
    assert first.seen == [["h0", "h1", "h2", "h3", "h4"]]
    assert second.seen == [["h2", "h3", "h4"]]
    assert result.removed == [("First", 5, 3), ("Second", 3, 2)]
    assert result.stopped_by is None


def test_stops_at_the_first_filter_that_leaves_no_host() -> None:
    everything = {f"h{i}" for i in range(4)}
    first, second, third = recording("A", {"h0"}), recording("B", everything), recording("C", set())
    result = run_filters([first, second, third], hosts(4), spec(), first_instance=True)
    assert result.hosts == []
    assert result.removed == [("A", 4, 3), ("B", 3, 0)]
    assert third.seen == []
    assert result.stopped_by == "B"


def test_once_per_request_filters_run_only_for_the_first_instance() -> None:
    once, every = recording("Once", {"h0"}, once=True), recording("Every", {"h1"})
    first = run_filters([once, every], hosts(3), spec(), first_instance=True)
    assert [h.host for h in first.hosts] == ["h2"]
    later = run_filters([once, every], hosts(3), spec(), first_instance=False)
    assert [h.host for h in later.hosts] == ["h0", "h2"]
    assert later.removed == [("Every", 3, 2)]
    assert len(once.seen) == 1


def test_no_hosts_runs_no_filter() -> None:
    f = recording("Recording", set())
    result = run_filters([f], [], spec(), first_instance=True)
    assert result.hosts == [] and result.removed == [] and f.seen == []
    assert result.reason() == "no candidate hosts to filter"


def test_input_list_is_not_modified() -> None:
    given = hosts(3)
    run_filters([recording("Recording", {"h0"})], given, spec(), first_instance=True)
    assert [h.host for h in given] == ["h0", "h1", "h2"]


def test_reason_names_the_filters_that_removed_hosts() -> None:
    down = [host(f"d{i}", service=ServiceState(up=False)) for i in range(3)]
    busy = [host(f"b{i}", instances=["m1"]) for i in range(7)]
    s = spec(instance_group=ServerGroup(uuid="g", policy="anti-affinity", members=["m1"]))
    filters = [ComputeFilter(CONFIG), recording("Nothing", set()), ServerGroupAntiAffinityFilter(CONFIG)]
    result = run_filters(filters, down + busy, s, first_instance=True)
    assert result.hosts == []
    assert result.removed == [("ComputeFilter", 10, 7), ("Nothing", 7, 7), ("ServerGroupAntiAffinityFilter", 7, 0)]
    assert result.reason() == "ComputeFilter removed 3 of 10 hosts; ServerGroupAntiAffinityFilter removed 7 of 7 hosts"


def test_reason_when_nothing_was_removed() -> None:
    result = run_filters([recording("Recording", set())], hosts(4), spec(), first_instance=True)
    assert result.reason() == "no filter removed any of 4 hosts"
    assert FilterResult(hosts(2)).reason() == "no filter removed any of 2 hosts"


class TestNarrowHosts:
    def names(self, found: list[HostState]) -> list[str]:
        return [h.host for h in found]

    def test_nothing_asked_keeps_everything_and_filters(self) -> None:
        found, skip = narrow_hosts(hosts(3), spec())
        assert self.names(found) == ["h0", "h1", "h2"] and skip is False

    def test_ignore_hosts_removes_them_case_insensitively(self) -> None:
        found, skip = narrow_hosts(hosts(3), spec(ignore_hosts=["H1"]))
        assert self.names(found) == ["h0", "h2"] and skip is False

    def test_force_hosts_keeps_only_them_and_skips_filters(self) -> None:
        found, skip = narrow_hosts(hosts(4), spec(force_hosts=["h1", "H3", "nowhere"]))
        assert self.names(found) == ["h1", "h3"] and skip is True

    def test_force_nodes_match_node_names_exactly(self) -> None:
        many = hosts(3)
        many[2].nodename = "node-x"
        found, skip = narrow_hosts(many, spec(force_nodes=["node-x", "H0"]))
        assert self.names(found) == ["h2"] and skip is True

    def test_forced_and_ignored_host_leaves_nothing(self) -> None:
        found, skip = narrow_hosts(hosts(3), spec(force_hosts=["h1"], ignore_hosts=["h1"]))
        assert found == [] and skip is True

    def test_force_hosts_and_nodes_both_apply(self) -> None:
        many = hosts(3)
        found, _ = narrow_hosts(many, spec(force_hosts=["h0", "h1"], force_nodes=["h1", "h2"]))
        assert self.names(found) == ["h1"]

    @pytest.mark.parametrize(
        ("destination", "expected"),
        [
            (Destination(host="h1"), ["h1", "h1"]),
            (Destination(host="h1", node="n1b"), ["h1"]),
            (Destination(node="n2"), ["h2"]),
            (Destination(host="h9"), []),
            (Destination(cell="c1"), ["h0", "h1", "h1", "h2"]),
        ],
    )
    def test_requested_destination_narrows_without_skipping_filters(
        self, destination: Destination, expected: list[str]
    ) -> None:
        many = [host("h0"), host("h1"), host("h1"), host("h2")]
        many[1].nodename, many[2].nodename, many[3].nodename = "n1a", "n1b", "n2"
        found, skip = narrow_hosts(many, spec(requested_destination=destination))
        assert self.names(found) == expected and skip is False


def test_every_shipped_filter_loads_by_name_and_runs() -> None:
    names = sorted(ep.name for ep in entry_points(group=FILTER_GROUP))
    assert set(DEFAULT_FILTERS) <= set(names)
    assert len(names) == 18
    loaded = load_filters(SchedulerConfig(enabled_filters=names))
    assert [f.name() for f in loaded] == names
    # a plain host and request get through every one of them
    plain = host("h0")
    assert run_filters(loaded, [plain], spec(), first_instance=True).hosts == [plain]


def test_unknown_filter_name_is_refused() -> None:
    with pytest.raises(ValueError, match="NoSuchFilter"):
        load_filters(SchedulerConfig(enabled_filters=["ComputeFilter", "NoSuchFilter"]))


class Inapplicable(Recording):
    """A filter that says it has nothing to check: run_filters must not call it."""

    def applies(self, spec: RequestSpec) -> bool:
        return False


def test_a_filter_that_does_not_apply_is_not_called_and_is_listed_as_removing_nothing() -> None:
    skipped = type("Skipped", (Inapplicable,), {"refuse": {"h0"}})()
    after = recording("After", {"h1"})
    result = run_filters([skipped, after], hosts(3), spec(), first_instance=True)
    assert skipped.seen == []
    assert [h.host for h in result.hosts] == ["h0", "h2"]
    assert result.removed == [("Skipped", 3, 3), ("After", 3, 2)]


def test_a_filter_applies_unless_it_says_otherwise() -> None:
    # Third-party filters written before the hook keep running.
    assert recording("Plain", set()).applies(spec()) is True


def test_server_group_filters_are_not_asked_per_host_without_a_group(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_: object) -> bool:
        raise AssertionError("host_passes called for a request without a server group")

    monkeypatch.setattr(ServerGroupAffinityFilter, "host_passes", refuse)
    monkeypatch.setattr(ServerGroupAntiAffinityFilter, "filter_all", refuse)
    filters = load_filters(CONFIG)
    assert len(run_filters(filters, hosts(5), spec(), first_instance=False).hosts) == 5
    # An affinity group with no member placed yet cannot remove a host either.
    s = spec(instance_group=ServerGroup(uuid="g", policy="affinity", members=[], hosts=[]))
    assert len(run_filters(filters, hosts(5), s, first_instance=False).hosts) == 5


def _varied_hosts() -> list[HostState]:
    """Hosts each of which some shipped filter removes when it runs with something to check."""
    return [
        host("plain"),
        host("down", service=ServiceState(up=False)),
        host("member", instances=["m1", "m2"]),
        host("tagged", aggregates=[{"filter_tenant_id": "p9", "hw_architecture": "aarch64", "ssd": "true",
                                    "max_io_ops_per_host": "0", "max_instances_per_host": "0"}],
             stats={"ssd": "false"}),
        host("arm", supported_instances=[("aarch64", "qemu", "hvm")], hypervisor_version=5000000),
        host("x86", supported_instances=[("x86_64", "qemu", "hvm")], hypervisor_version=8002000,
             cpu_info={"arch": "x86_64", "maxphysaddr": {"bits": 39}}),
    ]


_SPECS = {
    "plain": spec(),
    "affinity, none placed": spec(instance_group=ServerGroup(uuid="g", policy="affinity", members=["m1"])),
    "affinity, placed": spec(instance_group=ServerGroup(uuid="g", policy="affinity", members=["m1"], hosts=["x86"])),
    "anti-affinity": spec(instance_group=ServerGroup(uuid="g", policy="anti-affinity", members=["m1"])),
    "soft group": spec(instance_group=ServerGroup(uuid="g", policy="soft-affinity", members=["m1"])),
    "hints": spec(scheduler_hints={"same_host": ["m1"], "different_host": "m2",
                                   "query": '[">=", "$free_ram_mb", 1]'}),
    "empty hints": spec(scheduler_hints={"same_host": [], "different_host": [], "query": ""}),
    "extra specs": spec(extra_specs={"capabilities:cpu_info:arch": "x86_64", "ssd": "true"}),
    "image": spec(image_props={"hw_architecture": "aarch64", "img_hv_requested_version": ">=6.0"}),
}


@pytest.mark.parametrize("label", sorted(_SPECS))
def test_a_shipped_filter_that_does_not_apply_would_have_kept_every_host(label: str) -> None:
    names = sorted(ep.name for ep in entry_points(group=FILTER_GROUP))
    s = _SPECS[label]
    for f in load_filters(SchedulerConfig(enabled_filters=names)):
        if not f.applies(s):
            given = _varied_hosts()
            assert f.filter_all(given, s) == given, f.name()
            assert all(f.host_passes(h, s) for h in given), f.name()


def test_the_default_filters_skip_what_a_plain_request_does_not_ask() -> None:
    skipped = {f.name() for f in load_filters(CONFIG) if not f.applies(spec())}
    assert skipped == {"ComputeCapabilitiesFilter", "ImagePropertiesFilter", "ServerGroupAntiAffinityFilter",
                       "ServerGroupAffinityFilter"}
