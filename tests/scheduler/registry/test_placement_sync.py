"""PlacementSync against a real placement (direct, SQLite) and a real registry: aggregates, the disabled
trait, generation races, the sync_all repair, the REST API (200 and 502) and the CLI."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result

from allotment.cli.hosts import host as host_cli
from allotment.client import Inventory, PlacementClient, direct
from allotment.scheduler.api.app import create_app
from allotment.scheduler.registry import NotFound, Registry
from allotment.scheduler.registry.placement_sync import (
    DISABLED_TRAIT,
    PlacementSync,
    ProviderNotFound,
    SyncConflict,
)
from tests.scheduler.registry.conftest import new_uuid


@pytest.fixture
def placement_db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/p.sqlite"


@pytest.fixture
def registry_db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/r.sqlite"


@pytest.fixture
def placement(placement_db: str) -> Iterator[PlacementClient]:
    with direct(placement_db) as client:
        yield client


@pytest.fixture
def reg(registry_db: str) -> Iterator[Registry]:
    with Registry.open(registry_db, service_down_time=60, heartbeat_refresh=0) as registry:
        yield registry


def compute(placement: PlacementClient, reg: Registry | None, name: str) -> str:
    """A root provider with 8 VCPU in placement (and the host registered on it when ``reg`` is given)."""
    rp = placement.create_provider(name)
    placement.set_inventories(rp.uuid, rp.generation, {"VCPU": Inventory(total=8)})
    if reg is not None:
        reg.register_host(name, rp.uuid)
    return rp.uuid


def candidates(placement: PlacementClient, *params: tuple[str, str]) -> set[str]:
    """The root providers of GET /allocation_candidates?resources=VCPU:1 plus ``params``."""
    body = placement.allocation_candidates([("resources", "VCPU:1"), *params])
    return set(body["provider_summaries"])


def aggregates(placement: PlacementClient, rp: str) -> set[str]:
    return set(placement.get_aggregates(rp)[1])


def traits(placement: PlacementClient, rp: str) -> set[str]:
    return set(placement.get_provider_traits(rp)[1])


def generation(placement: PlacementClient, rp: str) -> int:
    return placement.get_provider(rp).generation


class Interleaved(PlacementClient):
    """The real client; right after it reads a provider's ``kind`` (aggregates or traits), ``meanwhile`` runs
    (someone else's real write), the first ``times`` times. ``reads`` counts those reads."""

    def __init__(self, other: PlacementClient, kind: str, meanwhile: Callable[[], None], times: int) -> None:
        super().__init__(other.http, other.microversion)
        self.kind, self.meanwhile, self.left, self.reads = kind, meanwhile, times, 0

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        body = super().request(method, path, **kwargs)
        if method == "GET" and path.endswith(f"/{self.kind}"):
            self.reads += 1
            if self.left > 0:
                self.left -= 1
                self.meanwhile()
        return body


# ---- single changes ------------------------------------------------------------------------------


def test_add_and_remove_host_in_aggregate(placement: PlacementClient) -> None:
    rp, other = compute(placement, None, "c1"), compute(placement, None, "c2")
    agg, shared = new_uuid(), new_uuid()
    placement.set_aggregates(rp, generation(placement, rp), [shared])  # e.g. a storage pool's, not ours
    sync = PlacementSync(placement)

    assert sync.add_host_to_aggregate(rp, agg) is True
    assert aggregates(placement, rp) == {agg, shared}
    assert candidates(placement, ("member_of", f"in:{agg}")) == {rp}
    assert other in candidates(placement)
    gen = generation(placement, rp)
    assert sync.add_host_to_aggregate(rp, agg) is False  # idempotent: nothing written
    assert generation(placement, rp) == gen

    assert sync.remove_host_from_aggregate(rp, agg) is True
    assert aggregates(placement, rp) == {shared}
    assert candidates(placement, ("member_of", f"in:{agg}")) == set()
    assert sync.remove_host_from_aggregate(rp, agg) is False
    assert generation(placement, rp) == gen + 1


def test_disable_and_enable(placement: PlacementClient) -> None:
    rp, other = compute(placement, None, "c1"), compute(placement, None, "c2")
    placement.set_provider_traits(rp, generation(placement, rp), ["HW_CPU_X86_AVX2"])
    sync = PlacementSync(placement)
    enabled_only = ("root_required", f"!{DISABLED_TRAIT}")

    assert sync.set_disabled(rp, True) is True
    assert traits(placement, rp) == {"HW_CPU_X86_AVX2", DISABLED_TRAIT}
    assert candidates(placement, enabled_only) == {other}
    assert candidates(placement) == {rp, other}
    gen = generation(placement, rp)
    assert sync.set_disabled(rp, True) is False
    assert generation(placement, rp) == gen

    assert sync.set_disabled(rp, False) is True
    assert traits(placement, rp) == {"HW_CPU_X86_AVX2"}
    assert candidates(placement, enabled_only) == {rp, other}
    assert sync.set_disabled(rp, False) is False


def test_unknown_provider_is_a_clear_error(placement: PlacementClient) -> None:
    sync, missing = PlacementSync(placement), new_uuid()
    for call in (lambda: sync.add_host_to_aggregate(missing, new_uuid()),
                 lambda: sync.remove_host_from_aggregate(missing, new_uuid()),
                 lambda: sync.set_disabled(missing, True)):
        with pytest.raises(ProviderNotFound) as caught:
            call()
        assert caught.value.detail == f"resource provider {missing} does not exist in placement"


# ---- generation races ----------------------------------------------------------------------------


def _bump_traits(placement: PlacementClient, rp: str) -> Callable[[], None]:
    def write() -> None:
        gen, current = placement.get_provider_traits(rp)
        placement.ensure_trait(f"CUSTOM_OTHER_{gen}")
        placement.set_provider_traits(rp, gen, [*current, f"CUSTOM_OTHER_{gen}"])
    return write


def _bump_aggregates(placement: PlacementClient, rp: str, agg: str) -> Callable[[], None]:
    def write() -> None:
        gen, current = placement.get_aggregates(rp)
        placement.set_aggregates(rp, gen, [*current, agg])
    return write


def test_trait_write_between_read_and_write_is_retried(placement: PlacementClient) -> None:
    rp = compute(placement, None, "c1")
    racing = Interleaved(placement, "traits", _bump_traits(placement, rp), times=2)
    assert PlacementSync(racing).set_disabled(rp, True) is True
    assert racing.reads == 3  # two lost races, then the write
    assert traits(placement, rp) == {DISABLED_TRAIT, "CUSTOM_OTHER_1", "CUSTOM_OTHER_2"}  # nobody's write lost


def test_aggregate_write_between_read_and_write_is_retried(placement: PlacementClient) -> None:
    rp, theirs, ours = compute(placement, None, "c1"), new_uuid(), new_uuid()
    racing = Interleaved(placement, "aggregates", _bump_aggregates(placement, rp, theirs), times=1)
    assert PlacementSync(racing).add_host_to_aggregate(rp, ours) is True
    assert racing.reads == 2
    assert aggregates(placement, rp) == {theirs, ours}


def test_losing_every_race_gives_up_clearly(placement: PlacementClient) -> None:
    rp = compute(placement, None, "c1")
    racing = Interleaved(placement, "traits", _bump_traits(placement, rp), times=100)
    with pytest.raises(SyncConflict, match="placement.concurrent_update"):
        PlacementSync(racing, attempts=3).set_disabled(rp, True)
    assert racing.reads == 3
    assert DISABLED_TRAIT not in traits(placement, rp)


def test_registry_is_read_after_placement_so_a_concurrent_removal_wins(
        placement: PlacementClient, reg: Registry) -> None:
    """Request A adds c1 to the aggregate; request B removes it (registry, then its own sync) while A is
    between its placement read and write. Placement must end as the registry: without the aggregate."""
    rp = compute(placement, reg, "c1")
    agg = reg.create_aggregate("a1").uuid

    def request_b() -> None:
        reg.remove_aggregate_host(agg, "c1")
        PlacementSync(placement).sync_aggregates(reg, "c1", [agg])

    reg.add_aggregate_host(agg, "c1")
    result = PlacementSync(Interleaved(placement, "aggregates", request_b, times=1)).sync_aggregates(reg, "c1", [agg])
    assert (result.added, result.removed, result.provider_uuid) == ([], [], rp)
    assert reg.get_host("c1").aggregates == [] and aggregates(placement, rp) == set()

    # The same interleaving with the plain delta call leaves placement behind the registry.
    reg.add_aggregate_host(agg, "c1")
    PlacementSync(Interleaved(placement, "aggregates", request_b, times=1)).add_host_to_aggregate(rp, agg)
    assert reg.get_host("c1").aggregates == [] and aggregates(placement, rp) == {agg}


# ---- from the registry ---------------------------------------------------------------------------


def test_sync_all_repairs_placement(placement: PlacementClient, reg: Registry) -> None:
    c1, c2, c3 = (compute(placement, reg, n) for n in ("c1", "c2", "c3"))
    ghost = new_uuid()
    reg.register_host("ghost", ghost)  # its provider is not in placement
    a, b = reg.create_aggregate("a").uuid, reg.create_aggregate("b").uuid
    foreign = new_uuid()  # a placement aggregate the registry does not know
    for agg, name in ((a, "c1"), (b, "c1"), (a, "c2"), (a, "ghost")):
        reg.add_aggregate_host(agg, name)
    reg.set_host_status("c1", disabled=True)
    reg.set_host_status("c3", disabled=True)
    reg.set_host_status("c3", disabled=False)
    # Placement as it drifted: c1's aggregates wiped, c2 still in b and in a foreign aggregate, c3 disabled.
    placement.set_aggregates(c2, generation(placement, c2), [b, foreign])
    placement.set_provider_traits(c3, generation(placement, c3), [DISABLED_TRAIT])

    report = {r.host: r for r in PlacementSync(placement).sync_all(reg)}
    assert sorted(report) == ["c1", "c2", "c3", "ghost"]
    assert (report["c1"].added, report["c1"].removed, report["c1"].disabled) == (sorted([a, b]), [], True)
    assert (report["c2"].added, report["c2"].removed, report["c2"].disabled) == ([a], [b], None)
    assert (report["c3"].changed, report["c3"].disabled) == (True, False)
    assert (report["ghost"].error, report["ghost"].provider_uuid) == (
        f"resource provider {ghost} does not exist in placement", ghost)
    assert aggregates(placement, c1) == {a, b} and traits(placement, c1) == {DISABLED_TRAIT}
    assert aggregates(placement, c2) == {a, foreign}
    assert traits(placement, c3) == set()
    assert candidates(placement, ("member_of", f"in:{a}"), ("root_required", f"!{DISABLED_TRAIT}")) == {c2}

    again = PlacementSync(placement).sync_all(reg, ["c1", "c2", "c3", "nobody"])
    assert [r.changed for r in again] == [False, False, False, False]
    assert again[-1].error == "host 'nobody' is not registered"


def test_sync_aggregates_of_an_unregistered_host_raises_the_registry_error(
        placement: PlacementClient, reg: Registry) -> None:
    with pytest.raises(NotFound):
        PlacementSync(placement).sync_aggregates(reg, "nobody", [])


# ---- REST API ------------------------------------------------------------------------------------


@pytest.fixture
def api(reg: Registry, placement: PlacementClient) -> Iterator[httpx.Client]:
    app = create_app(reg, placement=placement)
    with httpx.Client(transport=httpx.WSGITransport(app=app), base_url="http://sched") as client:
        yield client


def test_api_keeps_placement_in_step(api: httpx.Client, reg: Registry, placement: PlacementClient) -> None:
    rp, other = compute(placement, reg, "c1"), compute(placement, reg, "c2")
    agg = api.post("/aggregates", json={"name": "az1", "metadata": {"availability_zone": "az1"}}).json()["uuid"]

    r = api.put(f"/aggregates/{agg}/hosts/c1")
    assert r.status_code == 200 and r.json()["hosts"] == ["c1"]
    assert aggregates(placement, rp) == {agg}
    assert candidates(placement, ("member_of", f"in:{agg}")) == {rp}

    r = api.put("/hosts/c1/status", json={"disabled": True, "disabled_reason": "maintenance"})
    assert r.status_code == 200 and r.json()["disabled"] is True
    assert DISABLED_TRAIT in traits(placement, rp)
    assert candidates(placement, ("root_required", f"!{DISABLED_TRAIT}")) == {other}

    gen = generation(placement, rp)
    assert api.put("/hosts/c1/status", json={"forced_down": True}).status_code == 200
    assert generation(placement, rp) == gen  # not a disabled change: placement untouched

    assert api.put("/hosts/c1/status", json={"disabled": False}).status_code == 200
    assert DISABLED_TRAIT not in traits(placement, rp)
    assert candidates(placement, ("root_required", f"!{DISABLED_TRAIT}")) == {rp, other}

    r = api.delete(f"/aggregates/{agg}/hosts/c1")
    assert r.status_code == 200 and r.json()["hosts"] == []
    assert aggregates(placement, rp) == set()
    assert candidates(placement, ("member_of", f"in:{agg}")) == set()
    assert api.delete(f"/aggregates/{agg}").status_code == 204


def test_api_rejected_registry_change_leaves_placement_alone(
        api: httpx.Client, reg: Registry, placement: PlacementClient) -> None:
    rp = compute(placement, reg, "c1")
    az1 = reg.create_aggregate("az1", metadata={"availability_zone": "az1"}).uuid
    az2 = reg.create_aggregate("az2", metadata={"availability_zone": "az2"}).uuid
    assert api.put(f"/aggregates/{az1}/hosts/c1").status_code == 200
    r = api.put(f"/aggregates/{az2}/hosts/c1")
    assert r.status_code == 409 and r.json()["errors"][0]["code"] == "scheduler.aggregate.zone_conflict"
    assert aggregates(placement, rp) == {az1}


def test_api_answers_502_when_placement_does_not_know_the_provider(
        api: httpx.Client, reg: Registry, placement: PlacementClient) -> None:
    root = new_uuid()
    reg.register_host("c1", root)
    agg = reg.create_aggregate("a1").uuid

    r = api.put(f"/aggregates/{agg}/hosts/c1")
    assert r.status_code == 502
    error = r.json()["errors"][0]
    assert error["code"] == "scheduler.placement_sync_failed"
    assert f"resource provider {root} does not exist in placement" in error["detail"]
    assert "that change stays" in error["detail"] and "allotment host sync c1" in error["detail"]
    assert reg.get_aggregate(agg).hosts == ["c1"]  # the registry change stays

    r = api.put("/hosts/c1/status", json={"disabled": True})
    assert r.status_code == 502 and r.json()["errors"][0]["code"] == "scheduler.placement_sync_failed"
    assert "host 'c1' was disabled" in r.json()["errors"][0]["detail"]
    assert reg.get_host("c1").disabled is True

    # The provider appears (the compute starts reporting): the repair brings placement in step.
    placement.create_provider("c1", uuid=root)
    (done,) = PlacementSync(placement).sync_all(reg)
    assert (done.added, done.disabled) == ([agg], True)
    assert aggregates(placement, root) == {agg} and traits(placement, root) == {DISABLED_TRAIT}


def test_api_without_placement_does_not_touch_it(reg: Registry, placement: PlacementClient) -> None:
    rp = compute(placement, reg, "c1")
    agg = reg.create_aggregate("a1").uuid
    with httpx.Client(transport=httpx.WSGITransport(app=create_app(reg)), base_url="http://sched") as api:
        assert api.put(f"/aggregates/{agg}/hosts/c1").status_code == 200
        assert api.put("/hosts/c1/status", json={"disabled": True}).status_code == 200
    assert aggregates(placement, rp) == set() and traits(placement, rp) == set()


# ---- CLI -----------------------------------------------------------------------------------------


def run(registry_db: str, *args: str) -> Result:
    result = CliRunner().invoke(host_cli, ["--db", registry_db, *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def test_cli_commands_sync_placement(registry_db: str, placement_db: str, placement: PlacementClient,
                                     reg: Registry) -> None:
    rp = compute(placement, reg, "c1")
    agg = reg.create_aggregate("a1").uuid
    to_placement = ("--placement-db", placement_db)

    r = run(registry_db, "aggregate", "add-host", "a1", "c1", *to_placement, "-f", "json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["hosts"] == ["c1"] and aggregates(placement, rp) == {agg}
    assert run(registry_db, "disable", "c1", *to_placement).exit_code == 0
    assert DISABLED_TRAIT in traits(placement, rp)
    assert run(registry_db, "enable", "c1", *to_placement).exit_code == 0
    assert DISABLED_TRAIT not in traits(placement, rp)
    assert run(registry_db, "aggregate", "remove-host", "a1", "c1", *to_placement).exit_code == 0
    assert aggregates(placement, rp) == set()

    # Without the option the registry changes alone; `host sync` then repairs.
    assert run(registry_db, "aggregate", "add-host", "a1", "c1").exit_code == 0
    assert run(registry_db, "disable", "c1").exit_code == 0
    assert aggregates(placement, rp) == set() and traits(placement, rp) == set()
    r = run(registry_db, "sync", *to_placement, "-f", "json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.output) == [{"host": "c1", "provider_uuid": rp, "added": [agg], "removed": [],
                                     "disabled": "trait added", "error": None}]
    assert aggregates(placement, rp) == {agg} and traits(placement, rp) == {DISABLED_TRAIT}
    r = run(registry_db, "sync", "c1", *to_placement)
    assert r.exit_code == 0 and "1 host(s) checked, 0 changed in placement" in r.output


def test_cli_placement_that_cannot_be_opened(registry_db: str) -> None:
    # The placement commands' own message, the password starred out.
    r = run(registry_db, "sync", "--placement-db", "nosuchdialect://root:secret@host/x")
    assert r.exit_code == 1
    assert r.stderr.startswith("error: cannot open placement on database nosuchdialect://root:***@host/x: ")
    assert "secret" not in r.stderr


def test_cli_reports_a_failed_sync(registry_db: str, placement_db: str, placement: PlacementClient,
                                   reg: Registry) -> None:
    root = new_uuid()
    reg.register_host("c1", root)
    reg.create_aggregate("a1")
    r = run(registry_db, "aggregate", "add-host", "a1", "c1", "--placement-db", placement_db)
    assert r.exit_code == 1 and r.stderr.startswith("error: host 'c1' was added to aggregate")
    assert f"resource provider {root} does not exist in placement" in r.output
    assert "allotment host sync c1" in r.output
    assert reg.get_host("c1").aggregates  # the registry change was made
    r = run(registry_db, "sync", "--placement-db", placement_db)
    assert r.exit_code == 1 and "error: 1 host(s) not synced: c1" in r.stderr
    r = run(registry_db, "sync")
    assert r.exit_code == 2 and "--placement-url or --placement-db" in r.output
    r = run(registry_db, "disable", "c1", "--placement-db", placement_db, "--placement-url", "http://x")
    assert r.exit_code == 2 and "not both" in r.output


def test_api_deleting_a_host_takes_its_provider_out_of_the_registry_aggregates(
        api: httpx.Client, reg: Registry, placement: PlacementClient) -> None:
    rp = compute(placement, reg, "c1")
    agg = reg.create_aggregate("rack1").uuid
    pool = new_uuid()  # a placement-only aggregate (a shared storage pool's): not the registry's to remove
    assert api.put(f"/aggregates/{agg}/hosts/c1").status_code == 200
    placement.set_aggregates(rp, generation(placement, rp), [agg, pool])

    assert api.delete("/hosts/c1").status_code == 204
    assert aggregates(placement, rp) == {pool}
    with pytest.raises(NotFound):
        reg.get_host("c1")


def test_api_deleting_a_host_whose_provider_is_gone_from_placement(
        api: httpx.Client, reg: Registry, placement: PlacementClient) -> None:
    rp = compute(placement, reg, "c1")
    agg = reg.create_aggregate("rack1").uuid
    assert api.put(f"/aggregates/{agg}/hosts/c1").status_code == 200
    placement.delete_provider(rp)
    assert api.delete("/hosts/c1").status_code == 204
