"""Parsing GET /allocation_candidates query strings: groups, request-wide parameters, errors."""

from __future__ import annotations

import pytest

from allotment.placement import errors
from allotment.placement.api import microversion
from allotment.placement.api.candidates_query import parse_request
from allotment.placement.api.http import ENV_MICROVERSION, HTTPError, Request
from allotment.placement.candidates.request import CandidateRequest

AGG1 = "14a5c8a3-5a99-4e8f-88be-00d85fcb1c17"
AGG2 = "66d98e7c-3c25-485d-a0dc-1cea651884de"


def parse(qs: str, version: str = "1.39") -> CandidateRequest:
    environ = {"REQUEST_METHOD": "GET", "QUERY_STRING": qs, "PATH_INFO": "/allocation_candidates"}
    environ[ENV_MICROVERSION] = microversion.negotiate({"HTTP_OPENSTACK_API_VERSION": f"placement {version}"})
    return parse_request(Request(environ))


def error(qs: str, version: str = "1.39") -> HTTPError:
    with pytest.raises(HTTPError) as info:
        parse(qs, version)
    assert info.value.status == 400
    return info.value


# ---- groups -----------------------------------------------------------------------------------


def test_unsuffixed_group() -> None:
    r = parse(f"resources=VCPU:1,MEMORY_MB:512&required=HW_CPU_X86_AVX2,!CUSTOM_X&member_of={AGG1}")
    (g,) = r.groups
    assert g.suffix == "" and not g.granular
    assert g.resources == {"VCPU": 1, "MEMORY_MB": 512}
    assert g.required == [frozenset({"HW_CPU_X86_AVX2"})]
    assert g.forbidden == {"CUSTOM_X"}
    assert g.member_of == [frozenset({AGG1})]


def test_groups_in_query_order_with_numeric_and_string_suffixes() -> None:
    r = parse("resources2=VGPU:1&resources=VCPU:1&resources1=DISK_GB:5&group_policy=none", "1.25")
    assert [g.suffix for g in r.groups] == ["2", "", "1"]
    assert all(g.granular for g in r.groups if g.suffix)
    r = parse("resources_GPU-a=VGPU:1&resources_NIC=SRIOV_NET_VF:2&group_policy=isolate")
    assert [g.suffix for g in r.groups] == ["_GPU-a", "_NIC"]
    assert r.isolate


def test_string_suffix_needs_1_33() -> None:
    e = error("resources_X=VCPU:1", "1.32")
    assert "does not match any of the regexes" in e.detail


def test_any_of_traits_and_repeats_from_1_39() -> None:
    r = parse("resources=VCPU:1&required=in:CUSTOM_A,CUSTOM_B&required=CUSTOM_C,!CUSTOM_D")
    (g,) = r.groups
    assert g.required == [frozenset({"CUSTOM_A", "CUSTOM_B"}), frozenset({"CUSTOM_C"})]
    assert g.forbidden == {"CUSTOM_D"}
    # Before 1.39 only the last 'required' counts.
    r = parse("resources=VCPU:1&required=CUSTOM_A&required=CUSTOM_C", "1.38")
    assert r.groups[0].required == [frozenset({"CUSTOM_C"})]
    e = error("resources=VCPU:1&required=in:CUSTOM_A,CUSTOM_B", "1.38")
    assert "only supported since microversion 1.39" in e.detail


def test_member_of_forms() -> None:
    r = parse(f"resources=VCPU:1&member_of=in:{AGG1},{AGG2}&member_of=!{AGG2}")
    g = r.groups[0]
    assert g.member_of == [frozenset({AGG1, AGG2})]
    assert g.forbidden_aggs == {AGG2}
    assert (
        "Multiple member_of parameters are not supported"
        in error(f"resources=VCPU:1&member_of={AGG1}&member_of={AGG2}", "1.23").detail
    )
    assert (
        "Forbidden member_of parameters are not supported"
        in error(f"resources=VCPU:1&member_of=!{AGG1}", "1.31").detail
    )
    assert "Expected 'member_of' parameter to contain valid UUID(s)" in error("resources=VCPU:1&member_of=in:").detail


def test_in_tree() -> None:
    r = parse(f"resources1=VCPU:1&in_tree1={AGG1}", "1.31")
    assert r.groups[0].in_tree == AGG1
    assert (
        "Expected 'in_tree' parameter to be a format of uuid" in error("resources=VCPU:1&in_tree=bogus", "1.31").detail
    )
    assert "Invalid query string parameters" in error(f"resources=VCPU:1&in_tree={AGG1}", "1.30").detail


# ---- request-wide -------------------------------------------------------------------------------


def test_limit_first_value_counts() -> None:
    assert parse("resources=VCPU:1&limit=10&limit=1", "1.16").limit == 10
    assert "'limit' was unexpected" in error("resources=VCPU:1&limit=5", "1.15").detail
    for bad in ("0", "-1", "cow"):
        assert "Failed validating 'pattern'" in error(f"resources=VCPU:1&limit={bad}", "1.16").detail
    # The schema sees the last value, the first one is used: both must be right.
    assert "Failed validating 'pattern'" in error("resources=VCPU:1&limit=cow&limit=5", "1.16").detail


def test_group_policy() -> None:
    assert parse("resources1=VCPU:1&resources2=VCPU:1&group_policy=isolate&group_policy=none").isolate
    e = error("resources1=VCPU:1&resources2=VCPU:1")
    assert e.detail == (
        'The "group_policy" parameter is required when specifying more than one "resources{N}" parameter.'
    )
    assert "'bogus' is not one of ['none', 'isolate']" in error("resources=VCPU:1&group_policy=bogus").detail
    # One suffixed group needs no policy.
    assert parse("resources=VCPU:1&resources1=VCPU:1").group_policy is None


def test_root_required() -> None:
    r = parse("resources=VCPU:1&root_required=CUSTOM_A,!CUSTOM_B", "1.35")
    assert r.root_required == {"CUSTOM_A"} and r.root_forbidden == {"CUSTOM_B"}
    e = error("resources=VCPU:1&root_required=CUSTOM_A&root_required=CUSTOM_B")
    assert e.code == errors.ILLEGAL_DUPLICATE_QUERYPARAM
    e = error("resources=VCPU:1&root_required=CUSTOM_A,!CUSTOM_A")
    assert e.code == errors.QUERYPARAM_BAD_VALUE
    assert e.detail == "Conflicting required and forbidden traits found in root_required: CUSTOM_A"
    # root_required never takes the 'in:' form.
    assert "only supported since microversion 1.39" in error("resources=VCPU:1&root_required=in:CUSTOM_A").detail
    assert (
        "'root_required' does not match any of the regexes"
        in error("resources=VCPU:1&root_required=CUSTOM_A", "1.34").detail
    )


def test_same_subtree_and_resourceless_groups() -> None:
    r = parse("resources_A=VCPU:1&required_B=CUSTOM_X&same_subtree=_A,_B&same_subtree=_A&group_policy=none")
    assert r.same_subtrees == [frozenset({"_A", "_B"}), frozenset({"_A"})]
    assert r.groups[1].resources == {}
    e = error("resources_A=VCPU:1&required_B=CUSTOM_X&group_policy=none")
    assert e.code == errors.QUERYPARAM_BAD_VALUE
    assert e.detail.startswith("Resourceless suffixed group request should be specified in `same_subtree`")
    e = error("resources_A=VCPU:1&same_subtree=_A,,_B")
    assert e.code == errors.QUERYPARAM_BAD_VALUE and "Empty string (unsuffixed group)" in e.detail
    e = error("resources_A=VCPU:1&same_subtree=_A,_NOPE")
    assert e.detail == "Real suffixes should be specified in `same_subtree`: ['_NOPE'] not found in ['_A']."
    e = error(f"member_of1={AGG1}&group_policy=none")
    assert e.code == errors.QUERYPARAM_MISSING_VALUE
    # An unsuffixed group without resources is resourceless but can never be in same_subtree.
    e = error("resources_A=VCPU:1&required=CUSTOM_X")
    assert "bad group(s) - ['']" in e.detail


def test_orphans_before_1_36() -> None:
    assert "orphaned traits keys: required, required1" in error("required=FOO&required1=BAR", "1.25").detail
    assert (
        "orphaned member_of keys: member_of, member_of3" in error(f"member_of={AGG1}&member_of3={AGG2}", "1.25").detail
    )
    assert error("resources=VCPU:1&in_tree1=" + AGG1, "1.31").detail == "All request groups must specify resources."
    assert error("group_policy=isolate", "1.25").detail == (
        "At least one request group (`resources` or `resources{$S}`) is required."
    )
    assert "'resources' is a required property" in error("", "1.24").detail


def test_conflicting_required_and_forbidden() -> None:
    e = error("resources=VCPU:1&required=CUSTOM_A,!CUSTOM_A&required=in:CUSTOM_B,CUSTOM_C&required=!CUSTOM_B")
    assert e.detail == (
        "Conflicting required and forbidden traits found in the following traits keys: required: (CUSTOM_A)"
    )
    e = error("resources=VCPU:1&required=in:CUSTOM_B,CUSTOM_C&required=!CUSTOM_B,!CUSTOM_C")
    assert "required: (CUSTOM_B, CUSTOM_C)" in e.detail


def test_resources_errors() -> None:
    assert "Got: empty string." in error("resources=").detail
    assert "Badly formed resources parameter" in error("resources=VCPU").detail
    assert error("resources=VCPU:x").detail == "Requested resource VCPU expected positive integer amount. Got: x."
    assert error("resources=VCPU:0").detail == "Requested resource VCPU requires amount >= 1. Got: 0."


def test_forbidden_traits_need_1_22() -> None:
    e = error("resources=VCPU:1&required=!CUSTOM_A", "1.21")
    assert "Expected 'required' parameter value of the form: HW_CPU_X86_VMX,CUSTOM_MAGIC." in e.detail
    e = error("resources=VCPU:1&required=", "1.22")
    assert "HW_CPU_X86_VMX,!CUSTOM_MAGIC. Got an empty trait" in e.detail
