"""IsolatedHostsFilter: the result matrix with and without restrict_isolated_hosts_to_isolated_images."""

from __future__ import annotations

import pytest

from allotment.scheduler.filters.isolated_hosts import IsolatedHostsFilter
from tests.scheduler.filters.factories import config, host, spec


@pytest.mark.parametrize(
    ("restrict", "host_name", "image_id", "expected"),
    [
        (True, "iso", "img-iso", True),
        (True, "iso", "img-plain", False),
        (True, "iso", None, False),
        (True, "plain", "img-iso", False),
        (True, "plain", "img-plain", True),
        (True, "plain", None, True),
        (False, "iso", "img-iso", True),
        (False, "iso", "img-plain", True),
        (False, "plain", "img-iso", False),
        (False, "plain", "img-plain", True),
    ],
)
def test_matrix(restrict: bool, host_name: str, image_id: str | None, expected: bool) -> None:
    f = IsolatedHostsFilter(config(isolated_hosts=["iso"], isolated_images=["img-iso"],
                                   restrict_isolated_hosts_to_isolated_images=restrict))
    assert f.host_passes(host(host_name), spec(image_id=image_id)) is expected


def test_without_isolated_images_isolated_hosts_take_nothing_when_restricted() -> None:
    restricted = IsolatedHostsFilter(config(isolated_hosts=["iso"]))
    assert not restricted.host_passes(host("iso"), spec(image_id="img"))
    assert restricted.host_passes(host("plain"), spec(image_id="img"))
    relaxed = IsolatedHostsFilter(config(isolated_hosts=["iso"], restrict_isolated_hosts_to_isolated_images=False))
    assert relaxed.host_passes(host("iso"), spec(image_id="img"))


def test_nothing_configured_passes_everything() -> None:
    assert IsolatedHostsFilter(config()).host_passes(host(), spec(image_id="img"))
