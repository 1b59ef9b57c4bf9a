"""The output formats and the option syntaxes, on their own."""

from __future__ import annotations

import datetime as dt
import json

import click
import pytest
import yaml

from allotment.cli.allocations import parse_allocations
from allotment.cli.candidates import candidate_params
from allotment.cli.inventories import parse_resource
from allotment.cli.output import Output, cell
from allotment.cli.query import member_of_params, required_params, resources_param

FIELDS = ("uuid", "name", "parent")
ROWS = [["u1", "cn1", None], ["u2", "cn 2", "u1"]]


def test_listing_formats(capsys: pytest.CaptureFixture[str]) -> None:
    Output("json").listing(FIELDS, ROWS)
    assert json.loads(capsys.readouterr().out) == [
        {"uuid": "u1", "name": "cn1", "parent": None}, {"uuid": "u2", "name": "cn 2", "parent": "u1"},
    ]
    Output("yaml").listing(FIELDS, ROWS)
    assert yaml.safe_load(capsys.readouterr().out)[1] == {"uuid": "u2", "name": "cn 2", "parent": "u1"}
    Output("value").listing(FIELDS, ROWS)
    assert capsys.readouterr().out == "u1 cn1 None\nu2 cn 2 u1\n"
    Output("table").listing(FIELDS, ROWS)
    lines = capsys.readouterr().out.splitlines()
    assert [c.strip() for c in lines[1].strip("│").split("│")] == ["uuid", "name", "parent"]
    assert [c.strip() for c in lines[3].strip("│").split("│")] == ["u1", "cn1", "None"]
    assert len(lines) == 6  # top rule, header, rule, two rows, bottom rule: never wrapped off a terminal


def test_record_formats(capsys: pytest.CaptureFixture[str]) -> None:
    Output("json").record(FIELDS, ROWS[1])
    assert json.loads(capsys.readouterr().out) == {"uuid": "u2", "name": "cn 2", "parent": "u1"}
    Output("value").record(FIELDS, ROWS[1])
    assert capsys.readouterr().out == "u2\ncn 2\nu1\n"
    Output("table").record(FIELDS, ROWS[1])
    body = [[c.strip() for c in line.strip("│").split("│")] for line in capsys.readouterr().out.splitlines()[3:-1]]
    assert body == [["uuid", "u2"], ["name", "cn 2"], ["parent", "u1"]]


def test_columns_select_and_order(capsys: pytest.CaptureFixture[str]) -> None:
    Output("json", ["name", "uuid"]).listing(FIELDS, ROWS)
    assert json.loads(capsys.readouterr().out) == [{"name": "cn1", "uuid": "u1"}, {"name": "cn 2", "uuid": "u2"}]
    Output("value", ["parent"]).record(FIELDS, ROWS[1])
    assert capsys.readouterr().out == "u1\n"
    with pytest.raises(click.BadParameter, match="no column bogus"):
        Output("json", ["bogus"]).listing(FIELDS, ROWS)


def test_table_text_is_not_rich_markup(capsys: pytest.CaptureFixture[str]) -> None:
    Output("table").listing(("name",), [["[bold]x[/bold]"]])
    assert "[bold]x[/bold]" in capsys.readouterr().out


def test_cell_formats_structures() -> None:
    assert cell({"VCPU": 2, "MEMORY_MB": 512}) == "VCPU=2, MEMORY_MB=512"
    assert cell({"c1": {"VCPU": 1}, "c2": {"DISK_GB": 5}}) == "c1: VCPU=1\nc2: DISK_GB=5"
    assert cell(["A", "B"]) == "A, B"
    assert cell(None) == "None"


def test_csv_as_cliff_writes_it(capsys: pytest.CaptureFixture[str]) -> None:
    # A header, then text quoted, numbers bare and None an empty field.
    Output("csv").listing(("name", "total", "parent", "traits"),
                          [["cn1", 8, None, ["A", "B"]], ['say "hi"', 1.5, "u1", []]])
    assert capsys.readouterr().out == '"name","total","parent","traits"\n"cn1",8,"","A, B"\n"say ""hi""",1.5,"u1",""\n'
    Output("csv", ["parent"]).record(FIELDS, ROWS[1])
    assert capsys.readouterr().out == '"parent"\n"u1"\n'


def test_datetimes_are_iso_utc_in_every_format(capsys: pytest.CaptureFixture[str]) -> None:
    naive = dt.datetime(2026, 11, 22, 7, 4, 52, 96617)  # the registry's: UTC without a zone
    aware = dt.datetime(2026, 11, 22, 8, 4, 52, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    for fmt in ("value", "csv", "table"):
        Output(fmt).listing(("at", "other"), [[naive, aware]])
        out = capsys.readouterr().out
        assert "2026-11-22T07:04:52.096617Z" in out and "2026-11-22T07:04:52Z" in out, (fmt, out)
    Output("json").record(("at", "nested"), [naive, {"when": [aware]}])
    assert json.loads(capsys.readouterr().out) == {"at": "2026-11-22T07:04:52.096617Z",
                                                   "nested": {"when": ["2026-11-22T07:04:52Z"]}}
    Output("yaml").record(("at",), [naive])
    assert yaml.safe_load(capsys.readouterr().out) == {"at": "2026-11-22T07:04:52.096617Z"}


def test_brief_columns_for_text_and_every_field_for_json(capsys: pytest.CaptureFixture[str]) -> None:
    rows = [{"name": "c1", "cell": None, "stats": {"k": "v"}}]
    Output("value").listing(("name", "cell", "stats"), rows, brief=("name", "cell"))
    assert capsys.readouterr().out == "c1 None\n"
    Output("json").listing(("name", "cell", "stats"), rows, brief=("name", "cell"))
    assert json.loads(capsys.readouterr().out) == rows
    Output("value", ["stats"]).listing(("name", "cell", "stats"), rows, brief=("name", "cell"))
    assert capsys.readouterr().out == "k=v\n"


def test_table_title_and_mapping_record(capsys: pytest.CaptureFixture[str]) -> None:
    Output("table").listing(("a",), [[1]], title="reservation r-1")
    assert capsys.readouterr().out.splitlines()[0] == "reservation r-1"
    Output("value").mapping({"a": None, "b": [1, 2]})
    assert capsys.readouterr().out == "None\n1, 2\n"
    Output("yaml").document({"a": [{"b": None}]})
    assert yaml.safe_load(capsys.readouterr().out) == {"a": [{"b": None}]}


@pytest.mark.parametrize(("text", "parsed"), [
    ("VCPU=8", ("VCPU", "total", 8)),
    ("MEMORY_MB:max_unit=1024", ("MEMORY_MB", "max_unit", 1024)),
    ("VCPU:allocation_ratio=16", ("VCPU", "allocation_ratio", 16.0)),
    ("CUSTOM_X:reserved= 2", ("CUSTOM_X", "reserved", 2)),
])
def test_parse_resource(text: str, parsed: tuple[str, str, float]) -> None:
    assert parse_resource(text) == parsed


@pytest.mark.parametrize(("text", "message"), [
    ("VCPU", "is not CLASS=VALUE"),
    ("VCPU=8=9", "is not CLASS=VALUE"),
    ("VCPU:total:x=1", "more than one ':'"),
    ("=8", "must not be empty"),
    ("VCPU:=8", "must not be empty"),
    ("VCPU:size=8", "unknown inventory field 'size'"),
    ("VCPU=eight", "total must be an integer"),
    ("VCPU:allocation_ratio=lots", "allocation_ratio must be a number"),
])
def test_parse_resource_rejects(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_resource(text)


def test_parse_allocations() -> None:
    assert parse_allocations(("rp=a,VCPU=1,MEMORY_MB=512", "rp=b,DISK_GB=10", "rp=a,DISK_GB=1")) == {
        "a": {"VCPU": 1, "MEMORY_MB": 512, "DISK_GB": 1}, "b": {"DISK_GB": 10},
    }
    for bad, message in [("VCPU=1", "names no provider"), ("rp=a", "allocates no resource"),
                         ("rp=a,VCPU", "is not rp=UUID"), ("rp=a,VCPU=x", "whole number")]:
        with pytest.raises(ValueError, match=message):
            parse_allocations((bad,))
    with pytest.raises(ValueError, match="two different amounts"):
        parse_allocations(("rp=a,VCPU=1", "rp=a,VCPU=2"))


def test_query_parameters() -> None:
    assert resources_param(["VCPU=2", "MEMORY_MB=512"]) == "VCPU:2,MEMORY_MB:512"
    with pytest.raises(click.BadParameter):
        resources_param(["VCPU:2"])
    assert required_params(["A", "B,C", "D"], ["E"]) == ["in:B,C", "A,D,!E"]
    assert required_params([], []) == []
    assert member_of_params(["a1,a2", "a3"], ["a4", "a5"]) == ["in:a1,a2", "in:a3", "in:a4,a5"]


def test_candidate_params_per_group() -> None:
    groups = {
        "": {"resources": ["VCPU=1"], "required": [], "forbidden": ["X"], "member_of": [], "aggregate_uuid": []},
        "1": {"resources": ["VGPU=1"], "required": ["G"], "forbidden": [], "member_of": ["a"], "aggregate_uuid": []},
    }
    assert candidate_params(groups, 5, "isolate") == [
        ("limit", "5"), ("group_policy", "isolate"), ("resources", "VCPU:1"), ("required", "!X"),
        ("resources1", "VGPU:1"), ("required1", "G"), ("member_of1", "in:a"),
    ]
    # Only an unnamed group: no group_policy.
    assert ("group_policy", "none") not in candidate_params({"": groups[""]}, None, "none")
