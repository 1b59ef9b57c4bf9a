"""AggregateInstanceExtraSpecsFilter, AggregateMultiTenancyIsolation, AggregateImagePropertiesIsolation."""

from __future__ import annotations

import pytest

from allotment.scheduler.filters import FilterError
from allotment.scheduler.filters.aggregate_extra_specs import AggregateInstanceExtraSpecsFilter
from allotment.scheduler.filters.aggregate_image_properties import AggregateImagePropertiesIsolation
from allotment.scheduler.filters.tenant_isolation import AggregateMultiTenancyIsolation
from tests.scheduler.filters.factories import config, host, spec

EXTRA = AggregateInstanceExtraSpecsFilter(config())
TENANT = AggregateMultiTenancyIsolation(config())
IMAGE = AggregateImagePropertiesIsolation(config())


def extra_passes(h: object, extra_specs: dict[str, str]) -> bool:
    s = spec(extra_specs=extra_specs)
    single = EXTRA.host_passes(h, s)  # type: ignore[arg-type]
    assert EXTRA.filter_all([h], s) == ([h] if single else [])  # type: ignore[list-item]
    return single


class TestAggregateInstanceExtraSpecs:
    def test_no_extra_specs_passes_any_host(self) -> None:
        assert extra_passes(host(), {})

    def test_scoped_key_must_match_aggregate_metadata(self) -> None:
        ssd = host(aggregates=[{"ssd": "true"}])
        assert extra_passes(ssd, {"aggregate_instance_extra_specs:ssd": "true"})
        assert not extra_passes(host(aggregates=[{"ssd": "false"}]), {"aggregate_instance_extra_specs:ssd": "true"})

    def test_host_without_the_key_fails(self) -> None:
        assert not extra_passes(host(), {"aggregate_instance_extra_specs:ssd": "true"})
        assert not extra_passes(host(aggregates=[{"gpu": "1"}]), {"aggregate_instance_extra_specs:ssd": "true"})

    def test_unscoped_keys_are_checked_too(self) -> None:
        assert extra_passes(host(aggregates=[{"ssd": "true"}]), {"ssd": "true"})
        assert not extra_passes(host(), {"ssd": "true"})

    def test_other_scopes_are_ignored(self) -> None:
        assert extra_passes(host(), {"capabilities:hypervisor_type": "QEMU", "resources:VCPU": "1", "hw:x": "y"})

    def test_any_aggregate_value_may_match_and_comma_lists_are_split(self) -> None:
        h = host(aggregates=[{"tier": "gold, silver"}, {"tier": "bronze"}])
        assert extra_passes(h, {"aggregate_instance_extra_specs:tier": "silver"})
        assert extra_passes(h, {"aggregate_instance_extra_specs:tier": "bronze"})
        assert not extra_passes(h, {"aggregate_instance_extra_specs:tier": "platinum"})

    def test_operators_apply(self) -> None:
        h = host(aggregates=[{"cores": "32"}])
        assert extra_passes(h, {"aggregate_instance_extra_specs:cores": ">= 16"})
        assert not extra_passes(h, {"aggregate_instance_extra_specs:cores": ">= 64"})
        assert extra_passes(h, {"aggregate_instance_extra_specs:cores": "<or> 16 <or> 32"})

    def test_malformed_requirement_is_an_error(self) -> None:
        with pytest.raises(FilterError):
            EXTRA.host_passes(host(aggregates=[{"cores": "32"}]), spec(extra_specs={"cores": ">="}))


class TestMultiTenancyIsolation:
    def test_host_without_tenant_keys_is_open_to_all(self) -> None:
        assert TENANT.host_passes(host(), spec(project_id="p1"))
        assert TENANT.host_passes(host(aggregates=[{"ssd": "true"}]), spec(project_id="p1"))

    def test_listed_project_passes_and_others_fail(self) -> None:
        h = host(aggregates=[{"filter_tenant_id": "p1"}])
        assert TENANT.host_passes(h, spec(project_id="p1"))
        assert not TENANT.host_passes(h, spec(project_id="p2"))

    def test_every_prefixed_key_and_comma_list_counts(self) -> None:
        h = host(aggregates=[{"filter_tenant_id": "p1,p2"}, {"filter_tenant_id_3": "p3"}])
        for project in ("p1", "p2", "p3"):
            assert TENANT.host_passes(h, spec(project_id=project))
        assert not TENANT.host_passes(h, spec(project_id="p4"))

    def test_runs_once_per_request(self) -> None:
        assert AggregateMultiTenancyIsolation.run_filter_once_per_request


class TestAggregateImagePropertiesIsolation:
    def test_image_without_the_property_passes(self) -> None:
        h = host(aggregates=[{"os_distro": "windows"}])
        assert IMAGE.host_passes(h, spec())
        assert IMAGE.host_passes(h, spec(image_props={"hw_disk_bus": "scsi"}))

    def test_property_must_be_one_of_the_aggregate_values(self) -> None:
        h = host(aggregates=[{"os_distro": "windows,freebsd"}])
        assert IMAGE.host_passes(h, spec(image_props={"os_distro": "windows"}))
        assert IMAGE.host_passes(h, spec(image_props={"os_distro": "freebsd"}))
        assert not IMAGE.host_passes(h, spec(image_props={"os_distro": "ubuntu"}))

    def test_host_in_no_aggregate_passes(self) -> None:
        assert IMAGE.host_passes(host(), spec(image_props={"os_distro": "ubuntu"}))

    def test_every_aggregate_key_is_checked(self) -> None:
        h = host(aggregates=[{"os_distro": "windows"}, {"hw_vm_mode": "hvm"}])
        assert IMAGE.host_passes(h, spec(image_props={"os_distro": "windows", "hw_vm_mode": "hvm"}))
        assert not IMAGE.host_passes(h, spec(image_props={"os_distro": "windows", "hw_vm_mode": "xen"}))
