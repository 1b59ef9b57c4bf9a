"""AvailabilityZoneFilter."""

from __future__ import annotations

from allotment.scheduler.filters.availability_zone import AvailabilityZoneFilter
from tests.scheduler.filters.factories import config, host, spec


def test_no_zone_requested_passes_every_host() -> None:
    f = AvailabilityZoneFilter(config())
    assert f.host_passes(host(aggregates=[{"availability_zone": "az1"}]), spec())
    assert f.host_passes(host(), spec())


def test_host_in_the_requested_zone_passes_and_others_fail() -> None:
    f = AvailabilityZoneFilter(config())
    assert f.host_passes(host(aggregates=[{"availability_zone": "az1"}]), spec(availability_zone="az1"))
    assert not f.host_passes(host(aggregates=[{"availability_zone": "az2"}]), spec(availability_zone="az1"))


def test_zone_comes_from_any_of_the_hosts_aggregates() -> None:
    h = host(aggregates=[{"ssd": "true"}, {"availability_zone": "az1"}])
    assert AvailabilityZoneFilter(config()).host_passes(h, spec(availability_zone="az1"))


def test_host_in_no_zone_aggregate_is_in_the_default_zone() -> None:
    plain = host(aggregates=[{"ssd": "true"}])
    assert AvailabilityZoneFilter(config()).host_passes(plain, spec(availability_zone="nova"))
    assert not AvailabilityZoneFilter(config()).host_passes(plain, spec(availability_zone="az1"))
    custom = AvailabilityZoneFilter(config(default_availability_zone="internal"))
    assert custom.host_passes(plain, spec(availability_zone="internal"))
    assert not custom.host_passes(plain, spec(availability_zone="nova"))


def test_host_in_a_zone_is_not_in_the_default_zone() -> None:
    h = host(aggregates=[{"availability_zone": "az1"}])
    assert not AvailabilityZoneFilter(config()).host_passes(h, spec(availability_zone="nova"))
