"""The one table of scheduler errors: what the API answers, what the CLI prints, what the client raises."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from allotment.client import Conflict as PlacementConflict
from allotment.client import GenerationConflict
from allotment.scheduler import errors
from allotment.scheduler.api.app import create_app
from allotment.scheduler.claims import is_consumer_conflict
from allotment.scheduler.client import SchedulerClient
from allotment.scheduler.errors import (
    KINDS,
    InvalidRequestSpec,
    NoSuchHost,
    NoValidHost,
    RequestFilterFailed,
    SchedulerError,
    answer_for,
    from_answer,
    kind_of,
)
from tests.scheduler.fleet import Fleet, boot_spec, flavor, open_fleet


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    with open_fleet(tmp_path) as f:
        f.add_host("a", vcpus=4, memory_mb=4096)
        yield f


def _classes() -> list[type[SchedulerError]]:
    return [c for _, c in inspect.getmembers(errors, inspect.isclass)
            if issubclass(c, SchedulerError) and c.__module__ == errors.__name__]


def test_every_scheduler_exception_has_a_row_and_comes_back_from_its_answer() -> None:
    classes = _classes()
    assert len(classes) >= 18
    for cls in classes:
        kind = kind_of(cls)
        assert kind.code.startswith("scheduler.") and 400 <= kind.status < 600, cls
        if cls is errors.ServerError:
            continue
        exc = cls("h1") if cls is NoSuchHost else cls("why")
        answer = answer_for(exc)
        assert (answer.status, answer.code, answer.detail) == (kind.status, kind.code, exc.detail)
        back = from_answer(answer.status, answer.code, answer.detail)
        assert isinstance(back, SchedulerError) and back.code == answer.code
        if answer.status < 500:
            # The first class listed for a code stands for it: a subclass comes back as its base.
            assert isinstance(exc, type(back)), (cls, type(back))
    assert set(KINDS) <= set(classes)


def test_no_valid_host_keeps_its_reason_through_an_answer() -> None:
    for exc in (NoValidHost("ComputeFilter removed 3 of 3 hosts"), RequestFilterFailed("no aggregate"),
                NoSuchHost("nowhere")):
        answer = answer_for(exc)
        assert (answer.status, answer.code) == (409, "scheduler.no_valid_host")
        back = from_answer(answer.status, answer.code, answer.detail)
        assert isinstance(back, NoValidHost) and back.reason == exc.reason
    assert kind_of(NoValidHost).label == "no valid host"
    assert kind_of(InvalidRequestSpec).label == "invalid request"


def test_the_service_client_raises_the_schedulers_own_exceptions(fleet: Fleet) -> None:
    app = create_app(fleet.registry, scheduler=fleet.scheduler())
    with SchedulerClient(httpx.Client(base_url="http://scheduler.test", transport=httpx.WSGITransport(app=app))) as c:
        ok = c.select_destinations(boot_spec(flavor(vcpus=1)).to_dict(), return_alternates=False)
        assert [row[0]["host"] for row in ok["selections"]] == ["a"]
        with pytest.raises(NoValidHost) as none:
            c.select_destinations(boot_spec(flavor(vcpus=64)).to_dict())
        assert none.value.reason == "placement found no allocation candidates for the request"
        with pytest.raises(InvalidRequestSpec):
            c.select_destinations({**boot_spec().to_dict(), "num_instances": 0})


def test_a_consumer_conflict_is_told_by_its_code_not_its_text() -> None:
    assert is_consumer_conflict(GenerationConflict(409, "anything at all", "placement.concurrent_update"))
    assert not is_consumer_conflict(PlacementConflict(409, "consumer generation conflict - expected null", None))
