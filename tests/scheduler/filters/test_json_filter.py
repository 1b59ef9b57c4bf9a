"""JsonFilter: the query grammar, host lookups, and malformed queries."""

from __future__ import annotations

import json
from typing import Any

import pytest

from allotment.scheduler.filters import FilterError
from allotment.scheduler.filters.json_filter import JsonFilter
from allotment.scheduler.host_state import HostState, ServiceState
from tests.scheduler.filters.factories import config, host, spec

F = JsonFilter(config())


def passes(h: HostState, query: Any) -> bool:
    s = spec(scheduler_hints={"query": [query if isinstance(query, str) else json.dumps(query)]})
    single = F.host_passes(h, s)
    assert F.filter_all([h], s) == ([h] if single else [])
    return single


BIG = host("big", free_ram_mb=8192, vcpus_total=32, free_disk_mb=100_000, stats={"gpu": "a100", "numa_nodes": "2"},
           cpu_info={"arch": "x86_64"}, hypervisor_type="QEMU")
SMALL = host("small", free_ram_mb=1024, vcpus_total=4, free_disk_mb=10_000, stats={"gpu": "none"},
             cpu_info={"arch": "aarch64"}, hypervisor_type="QEMU", service=ServiceState(disabled=True))


def test_no_query_passes() -> None:
    assert F.host_passes(SMALL, spec())
    assert F.filter_all([SMALL, BIG], spec()) == [SMALL, BIG]


def test_empty_query_passes() -> None:
    assert passes(SMALL, [])


@pytest.mark.parametrize(
    ("query", "big", "small"),
    [
        (["=", "$vcpus_total", 32], True, False),
        (["<", "$free_ram_mb", 2048], False, True),
        ([">", "$free_ram_mb", 2048], True, False),
        (["<=", "$free_ram_mb", 1024], False, True),
        ([">=", "$free_ram_mb", 1024], True, True),
        # the first argument compares with every other one
        ([">=", "$free_ram_mb", 1024, 4096], True, False),
        (["in", "$cpu_info.arch", "x86_64", "ppc64le"], True, False),
        (["=", "$stats.gpu", "a100"], True, False),
        (["=", "$service.disabled", True], False, True),
        (["not", ["=", "$stats.gpu", "a100"]], False, True),
        (["and", [">=", "$free_ram_mb", 1024], ["=", "$hypervisor_type", "QEMU"]], True, True),
        (["and", [">=", "$free_ram_mb", 2048], ["=", "$hypervisor_type", "QEMU"]], True, False),
        (["or", ["=", "$stats.gpu", "a100"], ["<", "$vcpus_total", 8]], True, True),
        (["or", ["=", "$stats.gpu", "v100"], ["<", "$vcpus_total", 2]], False, False),
        (["and", ["or", ["=", "$cpu_info.arch", "aarch64"], [">", "$free_disk_mb", 50000]],
         ["not", ["<", "$free_ram_mb", 512]]], True, True),
    ],
)
def test_grammar(query: list[Any], big: bool, small: bool) -> None:
    assert passes(BIG, query) is big
    assert passes(SMALL, query) is small


def test_numeric_strings_compare_as_numbers() -> None:
    assert passes(BIG, [">=", "$stats.numa_nodes", 2])
    assert not passes(BIG, [">", "$stats.numa_nodes", 10])  # as text "2" > "10"
    assert not passes(BIG, ["=", "$stats.gpu", 1])


def test_missing_lookup_makes_the_comparison_false() -> None:
    assert not passes(BIG, ["=", "$stats.missing", "x"])
    assert not passes(BIG, ["=", "$no_such_field", 1])
    assert not passes(BIG, ["in", "$cpu_info.missing", "x"])
    assert passes(BIG, ["not", ["=", "$stats.missing", "x"]])


def test_properties_can_be_looked_up() -> None:
    assert passes(host(instances=["a", "b"]), ["=", "$num_instances", 2])


def test_every_query_hint_must_hold() -> None:
    queries = [json.dumps([">=", "$free_ram_mb", 1024]), json.dumps(["=", "$stats.gpu", "a100"])]
    s = spec(scheduler_hints={"query": queries})
    assert F.host_passes(BIG, s)
    assert not F.host_passes(SMALL, s)


def test_query_given_as_a_plain_string_works() -> None:
    s = spec(scheduler_hints={"query": json.dumps(["=", "$stats.gpu", "a100"])})  # type: ignore[dict-item]
    assert F.filter_all([BIG, SMALL], s) == [BIG]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ('[">=", "$free_ram_mb", 1024', "not valid JSON"),
        ("not json", "not valid JSON"),
        ('{"op": ">="}', "must be a JSON list"),
        ('">="', "must be a JSON list"),
        ('["~", "$free_ram_mb", 1]', "unknown operator"),
        ('[1, 2]', "unknown operator"),
        ('[">=", "$free_ram_mb"]', "at least two arguments"),
        ('["in", "$free_ram_mb"]', "at least two arguments"),
        ('["not", ["=", 1, 1], ["=", 2, 2]]', "one argument"),
        ('["not"]', "one argument"),
        ('["=", {"a": 1}, 1]', "JSON object"),
        ('["=", "$", 1]', "not a host field"),
        ('["=", "$stats.", 1]', "not a host field"),
        ('["and", [">=", "$free_ram_mb", 1], ["bogus", 1, 2]]', "unknown operator"),
    ],
)
def test_malformed_query_is_an_error(query: str, message: str) -> None:
    with pytest.raises(FilterError, match=message):
        F.filter_all([BIG], spec(scheduler_hints={"query": [query]}))


def test_malformed_query_is_an_error_even_without_hosts_to_match() -> None:
    # the query is parsed before any host is looked at
    with pytest.raises(FilterError):
        F.host_passes(host(), spec(scheduler_hints={"query": ['["and", ["?"]]']}))


def test_parsed_queries_are_reused() -> None:
    f = JsonFilter(config())
    s = spec(scheduler_hints={"query": [json.dumps(["=", "$vcpus_total", 32])]})
    f.filter_all([BIG, SMALL], s)
    f.filter_all([BIG, SMALL], s)
    assert len(f._compiled) == 1


def test_runs_for_every_instance() -> None:
    # the query can look at usage, which changes as instances of the request are placed
    assert not JsonFilter.run_filter_once_per_request
