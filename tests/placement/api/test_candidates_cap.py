"""candidates_answer_cap: an answer without limit stops at the cap, with a Warning header; within it nothing changes."""

from __future__ import annotations

import uuid as uuidlib
from pathlib import Path

import httpx
import pytest

from allotment.placement.config import Config, load_config

CAP = 5
PROVIDERS = 7


@pytest.fixture
def config() -> Config:
    return Config(enforce_new_defaults=False, candidates_answer_cap=CAP)


def _providers(api: httpx.Client, count: int = PROVIDERS) -> None:
    for i in range(count):
        uuid = str(uuidlib.uuid4())
        assert api.post("/resource_providers", json={"name": f"cn{i}", "uuid": uuid}).status_code == 200
        r = api.put(f"/resource_providers/{uuid}/inventories",
                    json={"resource_provider_generation": 0, "inventories": {"VCPU": {"total": 4}}})
        assert r.status_code == 200, r.text


def test_an_answer_past_the_cap_is_cut_and_says_so(api: httpx.Client) -> None:
    _providers(api)
    r = api.get("/allocation_candidates", params={"resources": "VCPU:1"})
    assert r.status_code == 200
    assert len(r.json()["allocation_requests"]) == CAP
    assert len(r.json()["provider_summaries"]) == CAP
    assert r.headers["warning"].startswith(f'299 allotment "allocation candidates cut at {CAP}')
    # A limit past the cap is cut too; a limit within it is the caller's and gets no warning.
    r = api.get("/allocation_candidates", params={"resources": "VCPU:1", "limit": "6"})
    assert len(r.json()["allocation_requests"]) == CAP and "warning" in r.headers
    r = api.get("/allocation_candidates", params={"resources": "VCPU:1", "limit": "3"})
    assert len(r.json()["allocation_requests"]) == 3 and "warning" not in r.headers


def test_an_answer_within_the_cap_has_no_warning(api: httpx.Client) -> None:
    _providers(api, CAP - 1)
    r = api.get("/allocation_candidates", params={"resources": "VCPU:1"})
    assert len(r.json()["allocation_requests"]) == CAP - 1 and "warning" not in r.headers


def test_the_cap_is_read_from_the_file_and_checked(tmp_path: Path) -> None:
    conf = tmp_path / "allotment.toml"
    conf.write_text("[placement]\ncandidates_answer_cap = 0\n")
    assert load_config(conf).candidates_answer_cap == 0
    assert Config().candidates_answer_cap == 100_000
    conf.write_text("[placement]\ncandidates_answer_cap = -1\n")
    with pytest.raises(ValueError, match="candidates_answer_cap"):
        load_config(conf)
