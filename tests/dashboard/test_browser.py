"""The dashboard in a real headless Chromium, against live placement, scheduler and dashboard servers.

The page loads, draws every section, and shows the numbers the fleet has: hosts, usage,
capacity per flavor and zone, the decisions with their reasons, the simulation runs.
The simulation panel reads a results file the fleet simulator wrote in this session
(``tests/dashboard/simulated.py``). Set ALLOTMENT_DASHBOARD_SCREENSHOT=path.png to keep a
screenshot of the whole page (docs/dashboard.png is one).
"""

from __future__ import annotations

import contextlib
import json
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
from allotment.simulator.plots import PANELS
from tests.dashboard import scene, simulated
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
def page(tmp_path_factory: pytest.TempPathFactory, simulation_results: Path) -> Iterator[Any]:
    browser, driver = chromium_or_skip()
    work = tmp_path_factory.mktemp("dash")
    db = f"sqlite:///{work / 'cloud.sqlite'}"
    with allotment_server(db) as placement_srv, scheduler_server(db) as scheduler_srv, \
            connect(placement_srv.url) as placement, connect_scheduler(scheduler_srv.url) as scheduler:
        scene.build(placement, scheduler)
        with dashboard_server(work, "--placement-url", placement_srv.url, "--scheduler-url", scheduler_srv.url,
                              "--simulation", str(simulation_results), "--flavor", "s:1:1024:10",
                              "--flavor", "big:4:4096") as url:
            chrome = start(browser, driver)
            try:
                chrome.get(url + "/")
                _wait(chrome, lambda: chrome.find_element("id", "updated").get_attribute("data-loaded") == "1")
                yield chrome
                shot = os.environ.get("ALLOTMENT_DASHBOARD_SCREENSHOT")
                if shot:  # the whole page, the simulation panel included
                    chrome.set_window_size(1280, chrome.execute_script(
                        "return document.documentElement.scrollHeight + window.outerHeight - window.innerHeight"))
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


def _number(text: str) -> float:
    return float(text.rstrip("%").replace(",", ""))


def test_simulation_summary_shows_the_files_numbers_side_by_side(page: Any, simulation_results: Path) -> None:
    runs = json.loads(simulation_results.read_text())["runs"]
    assert texts(page, "#simulation [data-testid=simulation-summary] thead th") == ["", "spread", "pack"]
    about = css(page, "[data-testid=simulation-about]").text
    assert f"{simulated.HOSTS} hosts of 16 VCPU, 65,536 MB" in about and f"{simulated.ARRIVALS} arrivals" in about
    assert "failure of 3 hosts at 120 s for 60 s" in about
    metrics = [r.get_attribute("data-metric") for r in page.find_elements("css selector", "[data-testid=simulation-summary] tbody tr")]
    assert {"placed", "refused", "mean_util_vcpu", "final_stranded_vcpu_pct", "mean_stranded_memory_pct",
            "placements_per_s"} <= set(metrics)
    for key in metrics[1:]:  # after the configuration row
        for run in runs:
            cell = css(page, f"#simulation tr[data-metric={key}] td[data-run={run['label']}]")
            value = run["summary"][key]
            if value is None:
                assert cell.text == "–"
                continue
            assert float(cell.get_attribute("data-value")) == value, key
            shown = _number(cell.text)
            if key.startswith(("mean_util", "peak_util", "final_util")):  # fractions, shown as percentages
                assert abs(shown - value * 100) <= 0.05 + 1e-9, (key, cell.text, value)
            elif isinstance(value, int):
                assert shown == value, (key, cell.text, value)
            else:
                assert abs(shown - value) <= 0.05 + 1e-9, (key, cell.text, value)
    assert "ram -1" in css(page, "#simulation tr[data-metric=config] td[data-run=pack]").text
    assert css(page, "[data-testid=simulation-verify]").text.endswith("equal on every host")


def test_simulation_refusals_by_reason(page: Any, simulation_results: Path) -> None:
    runs = json.loads(simulation_results.read_text())["runs"]
    reasons = {k for r in runs for k in r["refusals"]}
    assert reasons, "the tiny simulation is sized to refuse"
    rows = page.find_elements("css selector", "[data-testid=simulation-refusals] tbody tr")
    assert {r.get_attribute("data-reason") for r in rows} == reasons
    for row in rows:
        reason = row.get_attribute("data-reason")
        assert row.find_element("css selector", "td.reason").text == reason
        for run in runs:
            cell = row.find_element("css selector", f"td[data-run={run['label']}]")
            assert int(cell.text) == run["refusals"].get(reason, 0)


def test_simulation_charts_are_the_plots_panels_over_time(page: Any, simulation_results: Path) -> None:
    document = json.loads(simulation_results.read_text())
    runs = document["runs"]
    charts = page.find_elements("css selector", "#simulation svg.chart")
    assert [c.get_attribute("data-field") for c in charts] == [key for key, _, _ in PANELS]
    for chart, (key, title, scale) in zip(charts, PANELS, strict=True):
        assert title in chart.text
        lines = chart.find_elements("css selector", "polyline")
        assert [line.get_attribute("data-run") for line in lines] == ["spread", "pack"]
        for line, run in zip(lines, runs, strict=True):
            assert len(line.get_attribute("points").split()) == len(run["samples"])
        peak = max(s[key] * scale for r in runs for s in r["samples"])
        assert _number(chart.find_element("css selector", "text.ymax").text) == pytest.approx(peak, abs=0.01)
        assert [e.get_attribute("data-event") for e in chart.find_elements("css selector", "[data-event]")] == [
            "failure", "maintenance"]
    # The cumulative refusals: the run with the most at the last sample ends at the top of the chart.
    refused = charts[[key for key, _, _ in PANELS].index("refused")]
    ends = [float(line.get_attribute("points").split()[-1].split(",")[1])
            for line in refused.find_elements("css selector", "polyline")]
    top = max(r["samples"][-1]["refused"] for r in runs)
    assert [e == min(ends) for e in ends] == [r["samples"][-1]["refused"] == top for r in runs]


def test_provider_trees_nest_numa_nodes(page: Any) -> None:
    h4 = css(page, "#trees details[data-provider=h4]")
    assert [c.get_attribute("data-provider") for c in h4.find_elements("css selector", "details")] == [
        "h4_numa0", "h4_numa1"]
    h1_mem = css(page, "#trees details[data-provider=h1] tr[data-rc=MEMORY_MB]")
    assert h1_mem.text.split()[:3] == ["MEMORY_MB", "2,048", "8,192"]
    assert "disabled" in css(page, "#trees details[data-provider=h3] summary").text
