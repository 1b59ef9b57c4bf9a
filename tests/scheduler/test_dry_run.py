"""Dry runs: the same decision as a real call, with nothing claimed in placement and nothing recorded
in the registry; the answer shows per instance the filters' counts and the weights per weigher."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from allotment.scheduler.api.app import create_app
from allotment.scheduler.errors import NoValidHost
from tests.scheduler.fleet import Fleet, add_ram_graded_hosts, boot_spec, flavor, open_fleet


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    with open_fleet(tmp_path) as f:
        add_ram_graded_hosts(f)  # a, b, c with 16, 8, 4 GiB
        yield f


def assert_nothing_written(fleet: Fleet) -> None:
    assert fleet.total_usage() == {"a": {}, "b": {}, "c": {}}
    assert fleet.registry.list_instances() == []
    assert all(not g.members for g in fleet.registry.list_groups())


def test_dry_run_decides_like_the_real_call_and_claims_nothing(fleet: Fleet) -> None:
    # 6 GiB each: a takes two, b one; c cannot.
    spec = boot_spec(flavor(memory_mb=6144), num_instances=3)
    dry = fleet.scheduler(seed=7).select_destinations(spec, dry_run=True)
    assert_nothing_written(fleet)
    assert dry.dry_run and dry.to_dict()["dry_run"] is True
    assert dry.hosts == ["a", "a", "b"]
    real = fleet.scheduler(seed=7).select_destinations(spec)
    assert real.hosts == dry.hosts
    assert [[s.host for s in row] for row in real.selections] == [[s.host for s in row] for row in dry.selections]
    assert not real.dry_run and "decision" not in real.to_dict()


def test_the_decision_shows_filters_and_weights_per_weigher(fleet: Fleet) -> None:
    result = fleet.scheduler().select_destinations(boot_spec(flavor(memory_mb=2048)), dry_run=True)
    (decision,) = result.decision
    assert decision["instance"] == result.instance_uuids[0] and decision["host"] == "a"
    assert [f["filter"] for f in decision["filters"]] == [
        "ComputeFilter", "ComputeCapabilitiesFilter", "ImagePropertiesFilter", "ServerGroupAntiAffinityFilter",
        "ServerGroupAffinityFilter"]
    assert all(f["before"] == 3 and f["removed"] == 0 for f in decision["filters"])
    hosts = decision["hosts"]
    assert [h["host"] for h in hosts] == ["a", "b", "c"]
    for h in hosts:
        assert math.isclose(sum(h["weights"].values()), h["weight"])
    # Free RAM 16, 8, 4 GiB normalise (minval 0) to 1, 1/2, 1/4 for the RAM weigher (multiplier 1.0).
    assert [h["weights"]["RAMWeigher"] for h in hosts] == [1.0, 0.5, 0.25]


def test_dry_run_refusal_is_explained_and_writes_nothing(fleet: Fleet) -> None:
    with pytest.raises(NoValidHost) as info:
        fleet.scheduler().select_destinations(boot_spec(flavor(memory_mb=8192), num_instances=4), dry_run=True)
    assert info.value.explanation is not None
    assert_nothing_written(fleet)


def test_dry_run_over_rest(fleet: Fleet) -> None:
    app = create_app(fleet.registry, scheduler=fleet.scheduler())
    with httpx.Client(transport=httpx.WSGITransport(app=app), base_url="http://scheduler") as http:
        body = {"request_spec": boot_spec(num_instances=2).to_dict(), "dry_run": True}
        resp = http.post("/select_destinations", json=body)
        assert resp.status_code == 200, resp.text
        answer = resp.json()
        assert answer["dry_run"] is True and len(answer["decision"]) == 2
        assert_nothing_written(fleet)
        bad = http.post("/select_destinations", json={**body, "dry_run": "yes"})
        assert bad.status_code == 400
