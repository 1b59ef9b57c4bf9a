"""The workload: flavors, lifetimes, the seeded generator and the CSV trace format with its errors."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from allotment.simulator.events import EventError, parse_event
from allotment.simulator.workload import (
    DEFAULT_FLAVORS,
    Arrival,
    TraceError,
    WorkloadError,
    parse_flavor,
    parse_lifetime,
    read_trace,
    synthetic,
)

EXAMPLE = Path(__file__).parents[2] / "docs" / "simulator" / "example-trace.csv"
NAMES = [f.name for f in DEFAULT_FLAVORS]


def test_the_generator_is_deterministic_with_a_seed() -> None:
    life = parse_lifetime("lognormal:3600:1.0")
    a = synthetic(500, 0.5, life, DEFAULT_FLAVORS, random.Random(7))
    b = synthetic(500, 0.5, life, DEFAULT_FLAVORS, random.Random(7))
    c = synthetic(500, 0.5, life, DEFAULT_FLAVORS, random.Random(8))
    assert a == b and a != c
    assert all(x.time < y.time for x, y in zip(a, a[1:]))
    assert {x.flavor for x in a} == set(NAMES)
    # m1.small weighs 40 of 100: the mix follows the weights.
    assert 150 < sum(x.flavor == "m1.small" for x in a) < 250


def test_lifetimes() -> None:
    rng = random.Random(1)
    assert parse_lifetime("forever").draw(rng) is None
    assert parse_lifetime("fixed:60").draw(rng) == 60
    draws = [parse_lifetime("uniform:10:20").draw(rng) for _ in range(100)]
    assert all(d is not None and 10 <= d <= 20 for d in draws)
    mean = sum(parse_lifetime("exp:100").draw(rng) or 0 for _ in range(4000)) / 4000
    assert 90 < mean < 110


@pytest.mark.parametrize(("text", "needle"), [
    ("gamma:3", "use exp:MEAN"),
    ("exp", "exp takes 1 number"),
    ("exp:-5", "positive"),
    ("uniform:20:10", "LOW is above HIGH"),
    ("fixed:abc", "could not convert"),
])
def test_bad_lifetimes_say_why(text: str, needle: str) -> None:
    with pytest.raises(WorkloadError, match=needle):
        parse_lifetime(text)


def test_flavors() -> None:
    assert parse_flavor("gpu.big:16:65536:100:2.5").to_json() == {
        "name": "gpu.big", "vcpus": 16, "memory_mb": 65536, "disk_gb": 100, "weight": 2.5}
    for bad in ("x:1", "x:0:512", "x:1:512:-1", "x:one:512", ":1:512", "x:1:512:0:0"):
        with pytest.raises(WorkloadError, match=f"flavor '{bad}'"):
            parse_flavor(bad)


def test_the_example_trace_parses() -> None:
    arrivals = read_trace(EXAMPLE, NAMES)
    assert len(arrivals) == 200
    assert arrivals[0].time == 0.0
    assert all(x.time <= y.time for x, y in zip(arrivals, arrivals[1:]))
    assert any(a.lifetime is None for a in arrivals) and any(a.lifetime for a in arrivals)


def test_a_trace_is_sorted_and_shifted_to_zero(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("flavor,lifetime,timestamp\nm1.small,10,105\nm1.large,,100.5\n")
    assert read_trace(path, NAMES) == [Arrival(0.0, "m1.large", None), Arrival(4.5, "m1.small", 10.0)]


@pytest.mark.parametrize(("text", "message"), [
    ("", "t.csv: the trace is empty"),
    ("# only a comment\n", "the trace is empty"),
    ("timestamp,flavor\n1,m1.small\n", "t.csv:1: the header lacks lifetime"),
    ("timestamp,flavor,lifetime\n", "the trace has a header and no rows"),
    ("timestamp,flavor,lifetime\n0,m1.small,5\n1,m9.huge,5\n", "t.csv:3: unknown flavor 'm9.huge'"),
    ("timestamp,flavor,lifetime\n0,m1.small,5\nsoon,m1.small,5\n", "t.csv:3: timestamp 'soon' is not a number"),
    ("# c\ntimestamp,flavor,lifetime\n0,m1.small,-5\n", "t.csv:3: lifetime '-5' must be a finite number >= 0"),
    ("timestamp,flavor,lifetime\n0,m1.small\n", "t.csv:2: 2 field(s), the header has 3"),
])
def test_trace_errors_name_the_line_and_the_field(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "t.csv"
    path.write_text(text)
    with pytest.raises(TraceError) as info:
        read_trace(path, NAMES)
    assert message in str(info.value)


def test_a_missing_trace_file(tmp_path: Path) -> None:
    with pytest.raises(TraceError, match="cannot read the trace"):
        read_trace(tmp_path / "nope.csv", NAMES)


def test_host_events() -> None:
    assert parse_event("failure", "3600:5").duration is None
    assert parse_event("maintenance", "10:2:300").to_json() == {
        "kind": "maintenance", "at": 10.0, "count": 2, "duration": 300.0}
    for kind, text in (("failure", "x:1"), ("failure", "10:0"), ("failure", "1"), ("maintenance", "10:2"),
                       ("failure", "10:1:-3")):
        with pytest.raises(EventError):
            parse_event(kind, text)
