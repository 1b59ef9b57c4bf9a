"""The dashboard in a real headless Chromium, against live placement, scheduler and dashboard servers.

The page loads, draws every section, and shows the numbers the fleet has: hosts, usage,
capacity per flavor and zone, the decisions with their reasons, the simulation runs.
Set ALLOTMENT_DASHBOARD_SCREENSHOT=path.png to keep a screenshot (docs/dashboard.png is one).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from allotment.bench.servers import allotment_server, free_port, scheduler_server
from allotment.client import connect
from allotment.scheduler.client import connect as connect_scheduler
from tests.dashboard import scene
from tests.dashboard.browser import chromium_or_skip, start

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")


@contextlib.contextmanager
def dashboard_server(work: Path, *args: str) -> Iterator[str]:
    port = free_port()
    log = work / "dashboard.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "allotment", "dashboard", "serve", "--port", str(port), *args],
                                stdout=out, stderr=subprocess.STDOUT, cwd=work)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                assert proc.poll() is None, log.read_text()
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(url + "/", timeout=1).status_code == 200:
                        break
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.1)
            yield url
        finally:
            proc.terminate()
            proc.wait(15)


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    browser, driver = chromium_or_skip()
    work = tmp_path_factory.mktemp("dash")
    db = f"sqlite:///{work / 'cloud.sqlite'}"
    with allotment_server(db) as placement_srv, scheduler_server(db) as scheduler_srv, \
            connect(placement_srv.url) as placement, connect_scheduler(scheduler_srv.url) as scheduler:
        results = scene.build(placement, scheduler, work)
        with dashboard_server(work, "--placement-url", placement_srv.url, "--scheduler-url", scheduler_srv.url,
                              "--simulation", str(results), "--flavor", "s:1:1024:10",
                              "--flavor", "big:4:4096") as url:
            chrome = start(browser, driver)
            try:
                chrome.get(url + "/")
                _wait(chrome, lambda: chrome.find_element("id", "updated").get_attribute("data-loaded") == "1")
                yield chrome
                shot = os.environ.get("ALLOTMENT_DASHBOARD_SCREENSHOT")
                if shot:
                    chrome.save_screenshot(shot)
            finally:
                chrome.quit()


def _wait(chrome: Any, ready: Any, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        assert time.monotonic() < deadline, chrome.page_source[:4000]
        time.sleep(0.1)


def css(chrome: Any, selector: str) -> Any:
    return chrome.find_element("css selector", selector)


def texts(chrome: Any, selector: str) -> list[str]:
    return [e.text for e in chrome.find_elements("css selector", selector)]


def test_no_section_shows_an_error(page: Any) -> None:
    assert texts(page, ".error") == []
    assert page.title == "allotment dashboard"


def test_summary_cards(page: Any) -> None:
    assert css(page, "[data-testid=hosts] b").text == "4"
    assert css(page, "[data-testid=providers] b").text == "6"
    assert css(page, "[data-testid=disabled] b").text == "1"
    assert css(page, "[data-testid=total-VCPU] b").text == "2 / 24"


def test_heatmap_cells_show_used_over_capacity(page: Any) -> None:
    assert css(page, "#heatmap tr[data-host=h1] td[data-rc=VCPU]").text == "25%"
    assert css(page, "#heatmap tr[data-host=h1] td[data-rc=DISK_GB]").text == "20%"
    assert css(page, "#heatmap tr[data-host=h2] td[data-rc=MEMORY_MB]").text == "0%"
    assert css(page, "#heatmap tr[data-host=h1] td[data-rc=VCPU]").get_attribute("title") == "2 of 8"
    assert texts(page, "#heatmap .badge.off") == ["disabled"]
    assert "disabled" in css(page, "#heatmap tr[data-host=h3]").text


def test_capacity_per_flavor_and_zone(page: Any) -> None:
    assert css(page, "#capacity tr[data-flavor=s] td[data-zone=az1]").text == "6"
    assert css(page, "#capacity tr[data-flavor=s] td[data-zone=az2]").text == "4"
    assert css(page, "#capacity tr[data-flavor=s] td[data-zone='(no zone)']").text == "4"
    assert css(page, "#capacity tr[data-flavor=s] td[data-zone=total]").text == "14"
    assert css(page, "#capacity tr[data-flavor=big] td[data-zone=total]").text == "3"


def test_decisions_with_their_reasons(page: Any) -> None:
    rows = page.find_elements("css selector", "#decisions tbody tr")
    assert [r.get_attribute("data-outcome") for r in rows] == ["no_valid_host", "placed"]
    refused, placed = rows
    assert "no valid host" in refused.text and "huge" in refused.text
    assert css(page, "#decisions tr[data-outcome=no_valid_host] td.reason").text != ""
    assert "h1" in placed.text and "boot" in placed.text


def test_simulation_runs_side_by_side_with_a_chart(page: Any) -> None:
    assert texts(page, "#simulation thead th")[1:3] == ["spread", "pack"]
    assert texts(page, "#simulation tr[data-metric=placements] td") == ["placements", "1,500", "1,512"]
    assert texts(page, "#simulation tr[data-metric='stranded.VCPU'] td") == ["stranded.VCPU", "40", "8"]
    charts = page.find_elements("css selector", "#simulation svg.chart")
    assert [c.get_attribute("data-field") for c in charts] == ["utilisation.VCPU"]
    assert len(charts[0].find_elements("css selector", "polyline")) == 2


def test_provider_trees_nest_numa_nodes(page: Any) -> None:
    h4 = css(page, "#trees details[data-provider=h4]")
    assert [c.get_attribute("data-provider") for c in h4.find_elements("css selector", "details")] == [
        "h4_numa0", "h4_numa1"]
    h1_mem = css(page, "#trees details[data-provider=h1] tr[data-rc=MEMORY_MB]")
    assert h1_mem.text.split()[:3] == ["MEMORY_MB", "2,048", "8,192"]
    assert "disabled" in css(page, "#trees details[data-provider=h3] summary").text
