"""The scheduler service built from its configuration (what ``allotment scheduler serve`` runs)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from allotment.scheduler import factory
from allotment.scheduler.config import SchedulerConfig
from tests.scheduler.fleet import Fleet, boot_spec, flavor, open_fleet


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    with open_fleet(tmp_path) as f:
        f.add_host("a", vcpus=4, memory_mb=4096)
        yield f


def test_arguments_beat_the_file_and_placement_defaults_to_http(tmp_path: Path) -> None:
    conf = tmp_path / "scheduler.toml"
    conf.write_text('[scheduler]\nplacement_db = "sqlite:///p.sqlite"\ndb_url = "sqlite:///r.sqlite"\n'
                    "max_attempts = 2\n")
    from_file = factory.load_service_config(conf)
    assert (from_file.placement_url, from_file.placement_db, from_file.db_url, from_file.max_attempts) == (
        None, "sqlite:///p.sqlite", "sqlite:///r.sqlite", 2)
    flagged = factory.load_service_config(conf, placement_url="http://placement:8778", db_url="sqlite:///x.sqlite")
    assert (flagged.placement_url, flagged.placement_db, flagged.db_url) == (
        "http://placement:8778", None, "sqlite:///x.sqlite")
    plain = factory.load_service_config(None)
    assert (plain.placement_url, plain.placement_db) == (factory.DEFAULT_PLACEMENT_URL, None)
    assert plain.db_url == SchedulerConfig().db_url
    conf.write_text('[scheduler]\nplacement_db = "sqlite:///p.sqlite"\nplacement_url = "http://x"\n')
    with pytest.raises(ValueError, match="keep one"):
        factory.load_service_config(conf)
    with pytest.raises(ValueError, match="not both"):
        factory.load_service_config(None, placement_url="http://x", placement_db="sqlite://")
    conf.write_text('[scheduler]\nenabled_filters = ["NoSuchFilter"]\n')
    with pytest.raises(ValueError, match="unknown filter 'NoSuchFilter'"):
        factory.prepare(factory.load_service_config(conf, db_url=f"sqlite:///{tmp_path}/r.sqlite"))


def test_the_built_app_schedules_over_the_configured_placement_and_registry(fleet: Fleet, tmp_path: Path) -> None:
    config = factory.load_service_config(None, db_url=f"sqlite:///{tmp_path}/registry.sqlite",
                                         placement_db=f"sqlite:///{tmp_path}/placement.sqlite")
    factory.prepare(config)
    with contextlib.ExitStack() as stack:
        app = factory.build_app(config, stack)
        api = httpx.Client(base_url="http://scheduler.test", transport=httpx.WSGITransport(app=app))
        resp = api.post("/select_destinations", json={"request_spec": boot_spec(flavor(vcpus=2)).to_dict()})
        assert resp.status_code == 200, resp.text
        assert [row[0]["host"] for row in resp.json()["selections"]] == ["a"]
        assert fleet.usages("a")["VCPU"] == 2
        assert api.get("/hosts/a").json()["provider_uuid"] == fleet.roots["a"]
