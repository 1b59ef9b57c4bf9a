"""RequestSpec: the factory, validation with the bad field named, and JSON round trips."""

from __future__ import annotations

import copy
import dataclasses
import uuid
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from allotment.scheduler.spec import (
    SPEC_VERSION,
    Destination,
    Flavor,
    Image,
    InvalidRequestSpec,
    RequestGroup,
    RequestLevelParams,
    RequestSpec,
    ServerGroup,
    normalize_hints,
    parse_flavor_request,
)

U1, U2, U3 = (str(uuid.UUID(int=i)) for i in (1, 2, 3))


def flavor(**extra_specs: Any) -> Flavor:
    return Flavor("m1.small", vcpus=2, memory_mb=2048, root_gb=20, extra_specs=extra_specs)


def build(**kw: Any) -> RequestSpec:
    kw.setdefault("project_id", "proj")
    kw.setdefault("user_id", "user")
    return RequestSpec.from_flavor(kw.pop("flavor", flavor()), kw.pop("image", None), **kw)


def minimal() -> dict[str, Any]:
    return {"flavor": {"name": "m1", "vcpus": 1, "memory_mb": 512}}


# -- generated valid specs -----------------------------------------------------------------------

names = st.from_regex(r"[A-Z][A-Z0-9_]{0,12}", fullmatch=True)
flavor_suffixes = st.from_regex(r"[0-9]{1,3}|_[A-Za-z]{1,6}", fullmatch=True)
uuids = st.uuids().map(str)
texts = st.text(max_size=12)
image_keys = st.from_regex(r"(hw|img|os)_[a-z_]{1,10}", fullmatch=True)


@st.composite
def extra_specs(draw: st.DrawFn) -> dict[str, str]:
    specs: dict[str, str] = {}
    for suffix in draw(st.lists(st.just("") | flavor_suffixes, max_size=3, unique=True)):
        for rc in draw(st.lists(names, min_size=1, max_size=3, unique=True)):
            specs[f"resources{suffix}:{rc}"] = str(draw(st.integers(0, 4096)))
        for trait in draw(st.lists(names, max_size=2, unique=True)):
            specs[f"trait{suffix}:{trait}"] = draw(st.sampled_from(["required", "forbidden"]))
    if draw(st.booleans()):
        specs["group_policy"] = draw(st.sampled_from(["none", "isolate"]))
    if draw(st.booleans()):
        specs["hw:cpu_policy"] = draw(st.sampled_from(["shared", "dedicated"]))
    others = st.from_regex(r"(capabilities|aggregate_instance_extra_specs|quota):[a-z_]{1,10}", fullmatch=True)
    specs.update(draw(st.dictionaries(others, texts, max_size=3)))
    return specs


@st.composite
def request_groups(draw: st.DrawFn) -> list[RequestGroup]:
    groups = draw(st.lists(st.from_regex(r"port-[a-z0-9]{1,8}", fullmatch=True), max_size=3, unique=True))
    return [
        RequestGroup(
            suffix=suffix,
            resources=draw(st.dictionaries(names, st.integers(1, 10**6), min_size=1, max_size=3)),
            required_traits=draw(st.lists(names, max_size=2)),
            forbidden_traits=draw(st.lists(names, max_size=2)),
            any_traits=draw(st.lists(st.lists(names, min_size=1, max_size=3), max_size=2)),
            member_of=draw(st.lists(st.lists(uuids, min_size=1, max_size=3).map(",".join), max_size=2)),
            forbidden_aggregates=draw(st.lists(uuids, max_size=2)),
            in_tree=draw(st.none() | uuids),
            requester_id=draw(st.none() | texts),
            provider_uuids=draw(st.lists(uuids, max_size=2)),
        )
        for suffix in groups
    ]


@st.composite
def specs(draw: st.DrawFn) -> RequestSpec:
    xs = draw(extra_specs())
    groups = draw(request_groups())
    known = [g.suffix for g in groups] + [k.split(":")[0][len("resources"):] for k in xs if k.startswith("resources")]
    known = sorted({s for s in known if s})
    root = draw(st.lists(names, max_size=4, unique=True))
    split = draw(st.integers(0, len(root)))
    num = draw(st.integers(1, 4))
    return RequestSpec(
        flavor=Flavor(draw(texts), draw(st.integers(0, 128)), draw(st.integers(0, 10**6)),
                      draw(st.integers(0, 10**4)), draw(st.integers(0, 10**4)), draw(st.integers(0, 10**5)), xs),
        image=Image(draw(st.none() | texts), draw(st.none() | st.sampled_from(["qcow2", "raw"])),
                    draw(st.dictionaries(image_keys, texts, max_size=3))),
        project_id=draw(texts),
        user_id=draw(texts),
        num_instances=num,
        instance_uuids=draw(st.just([]) | st.lists(uuids, min_size=num, max_size=num, unique=True)),
        availability_zone=draw(st.none() | texts),
        scheduler_hints=draw(st.dictionaries(texts.filter(lambda k: k not in ("", "group")), st.lists(texts),
                                             max_size=3)),
        instance_group=draw(st.none() | st.builds(
            ServerGroup, uuids, st.sampled_from(["affinity", "anti-affinity", "soft-affinity", "soft-anti-affinity"]),
            st.dictionaries(texts, st.integers(1, 10), max_size=2), st.lists(uuids, max_size=3),
            st.lists(texts, max_size=3),
        )),
        force_hosts=draw(st.lists(texts, max_size=1)),
        force_nodes=draw(st.lists(texts, max_size=1)),
        ignore_hosts=draw(st.lists(texts, max_size=3)),
        requested_destination=draw(st.none() | st.builds(
            Destination, st.none() | texts, st.none() | texts, st.none() | texts,
            st.lists(st.lists(uuids, min_size=1, max_size=3).map(",".join), max_size=2), st.lists(uuids, max_size=2),
        )),
        is_bfv=draw(st.booleans()),
        requested_resources=groups,
        request_level_params=RequestLevelParams(
            root[:split], root[split:],
            draw(st.lists(st.lists(st.sampled_from(known), min_size=1, max_size=3), max_size=2)) if known else [],
        ),
        instance_uuid=draw(st.none() | uuids),
    )


@settings(max_examples=150, deadline=None)
@given(specs())
def test_every_valid_spec_survives_a_round_trip(spec: RequestSpec) -> None:
    spec.validate()
    data = spec.to_dict()
    assert data["version"] == SPEC_VERSION
    assert RequestSpec.from_dict(data) == spec
    assert RequestSpec.from_json(spec.to_json()) == spec
    assert RequestSpec.from_json(spec.to_json().decode()) == spec


def test_to_json_is_deterministic_and_from_dict_does_not_share_the_input() -> None:
    spec = build(hints={"b": "2", "a": ["1"]}, flavor=flavor(**{"resources1:VGPU": "1", "group_policy": "none"}))
    again = build(hints={"a": ["1"], "b": "2"}, flavor=flavor(**{"group_policy": "none", "resources1:VGPU": "1"}))
    assert spec.to_json() == again.to_json()
    data = spec.to_dict()
    parsed = RequestSpec.from_dict(data)
    data["flavor"]["extra_specs"]["group_policy"] = "isolate"
    data["scheduler_hints"]["a"].append("x")
    assert parsed == spec


# -- the factory ---------------------------------------------------------------------------------

def test_from_flavor_normalizes_hints_and_extra_spec_numbers() -> None:
    spec = build(
        flavor=flavor(**{"resources:VCPU": 0, "resources1:VGPU": 2}),
        hints={"same_host": U1, "different_host": [U2, U3], "query": '[">=", "$free_ram_mb", 1024]'},
        num_instances=2,
        instance_uuids=[U1, U2],
    )
    assert spec.scheduler_hints == {
        "same_host": [U1], "different_host": [U2, U3], "query": ['[">=", "$free_ram_mb", 1024]'],
    }
    assert spec.flavor.extra_specs == {"resources:VCPU": "0", "resources1:VGPU": "2"}
    assert spec.image == Image()
    assert (spec.project_id, spec.user_id, spec.num_instances, spec.instance_uuids) == ("proj", "user", 2, [U1, U2])


@pytest.mark.parametrize(
    ("zone", "expected"),
    [
        (None, (None, [], [])),
        ("az1", ("az1", [], [])),
        ("az1:host1", ("az1", ["host1"], [])),
        ("az1:host1:node1", ("az1", ["host1"], ["node1"])),
        ("az1::node1", ("az1", [], ["node1"])),
        (":host1", (None, ["host1"], [])),
    ],
)
def test_availability_zone_can_force_a_host_and_node(zone: str | None, expected: tuple[Any, ...]) -> None:
    spec = build(availability_zone=zone)
    assert (spec.availability_zone, spec.force_hosts, spec.force_nodes) == expected


def test_availability_zone_with_too_many_parts_or_a_conflicting_forced_host_is_refused() -> None:
    with pytest.raises(InvalidRequestSpec, match="availability_zone"):
        build(availability_zone="a:b:c:d")
    with pytest.raises(InvalidRequestSpec, match="force_hosts"):
        build(availability_zone="az1:host1", force_hosts=["host2"])
    assert build(availability_zone="az1:host1", force_hosts=["host1"]).force_hosts == ["host1"]


@pytest.mark.parametrize("field", ["ignore_hosts", "force_hosts", "force_nodes", "instance_uuids"])
def test_a_lone_string_where_a_list_belongs_is_refused(field: str) -> None:
    with pytest.raises(InvalidRequestSpec, match=f"{field}: expected a list, got str"):
        build(**{field: "host1"})


def test_from_flavor_copies_its_arguments() -> None:
    f = flavor(**{"trait:CUSTOM_A": "required"})
    group = ServerGroup(U1, "anti-affinity", members=[U2])
    ports = [RequestGroup("port-1", resources={"NET_BW_EGR_KILOBIT_PER_SEC": 10})]
    spec = build(flavor=f, server_group=group, requested_resources=ports)
    f.extra_specs["trait:CUSTOM_B"] = "required"
    group.members.append(U3)
    ports[0].resources["NET_BW_IGR_KILOBIT_PER_SEC"] = 5
    assert spec.flavor.extra_specs == {"trait:CUSTOM_A": "required"}
    assert spec.instance_group is not None and spec.instance_group.members == [U2]
    assert spec.requested_resources[0].resources == {"NET_BW_EGR_KILOBIT_PER_SEC": 10}


@pytest.mark.parametrize(
    ("hints", "field"),
    [
        ({"same_host": 3}, "scheduler_hints.same_host"),
        ({"same_host": [U1, 3]}, "scheduler_hints.same_host"),
        ({"query": {"a": 1}}, "scheduler_hints.query"),
        ({"": "x"}, "scheduler_hints"),
    ],
)
def test_bad_hints_are_refused(hints: dict[Any, Any], field: str) -> None:
    with pytest.raises(InvalidRequestSpec, match=field.replace(".", r"\.")):
        build(hints=hints)
    with pytest.raises(InvalidRequestSpec):
        normalize_hints(hints)


# -- extra specs ---------------------------------------------------------------------------------

def test_parse_flavor_request_groups_by_suffix() -> None:
    request = parse_flavor_request({
        "resources:VCPU": "0",
        "resources1:VGPU": " 2 ",
        "resources_NIC-a:SRIOV_NET_VF": "1",
        "trait1:CUSTOM_FAST": "required",
        "trait:HW_CPU_X86_AVX2": "forbidden",
        "group_policy": "isolate",
        "hw:emulator_threads_policy": "isolate",
        "capabilities:cpu_info:arch": "x86_64",
        "resources": "not a group key",
    })
    assert request.group_policy == "isolate"
    assert request.emulator_threads_policy == "isolate"
    assert request.groups == {
        "": RequestGroup("", resources={"VCPU": 0}, forbidden_traits=["HW_CPU_X86_AVX2"]),
        "1": RequestGroup("1", resources={"VGPU": 2}, required_traits=["CUSTOM_FAST"]),
        "_NIC-a": RequestGroup("_NIC-a", resources={"SRIOV_NET_VF": 1}),
    }


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("resources:VCPU", "-1", "integer >= 0"),
        ("resources:VCPU", "two", "integer >= 0"),
        ("resources:VCPU", "1.5", "integer >= 0"),
        ("resources:VCPU", "", "integer >= 0"),
        ("resources:vcpu", "1", "not a valid name"),
        ("resources1:", "1", "not a valid name"),
        ("trait:HW_CPU_X86_AVX2", "yes", "'required' or 'forbidden'"),
        ("trait2:custom_x", "required", "not a valid name"),
        ("resources$:VCPU", "1", "group suffix"),
        ("trait" + "x" * 65 + ":CUSTOM_A", "required", "group suffix"),
        ("group_policy", "all", "none, isolate"),
        ("hw:cpu_policy", "pinned", "shared, dedicated, mixed"),
        ("hw:cpu_thread_policy", "never", "prefer, isolate, require"),
        ("hw:emulator_threads_policy", "spread", "share, isolate"),
    ],
)
def test_malformed_extra_specs_are_refused_naming_the_key(key: str, value: str, message: str) -> None:
    with pytest.raises(InvalidRequestSpec) as info:
        build(flavor=flavor(**{key: value}))
    assert f"flavor.extra_specs.{key}" in str(info.value)
    assert message in str(info.value)
    data = minimal()
    data["flavor"]["extra_specs"] = {key: value}
    with pytest.raises(InvalidRequestSpec, match="flavor.extra_specs"):
        RequestSpec.from_dict(data)


def test_extra_spec_values_must_be_strings() -> None:
    with pytest.raises(InvalidRequestSpec, match=r"flavor\.extra_specs\.trait:CUSTOM_A: True is not of type"):
        build(flavor=flavor(**{"trait:CUSTOM_A": True}))


# -- validation of dicts -------------------------------------------------------------------------

def _with(path: str, value: Any) -> dict[str, Any]:
    data = minimal()
    *parents, last = path.split(".")
    node = data
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value
    return data


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "missing required field(s): flavor"),
        ({"flavor": {"name": "m1", "vcpus": 1}}, "missing required field(s): flavor.memory_mb"),
        (_with("flavor.vcpus", -1), "flavor.vcpus: -1 is less than the minimum of 0"),
        (_with("flavor.vcpus", True), "flavor.vcpus: True is not of type 'integer'"),
        (_with("flavor.memory_mb", "512"), "flavor.memory_mb: '512' is not of type 'integer'"),
        (_with("flavor.swap", 1.5), "flavor.swap"),
        (_with("flavor.extra", 1), "unknown field(s): flavor.extra"),
        (_with("colour", "blue"), "unknown field(s): colour"),
        (_with("num_instances", 0), "num_instances: 0 is less than the minimum of 1"),
        (_with("instance_uuids", ["nope"]), "instance_uuids[0]: 'nope' is not a UUID"),
        (_with("image.properties", {"hw_disk_bus": 1}), "image.properties.hw_disk_bus"),
        (_with("image.properties", {"trait:custom": "required"}), "image.properties.trait:custom"),
        (_with("scheduler_hints", {"same_host": "x"}), "scheduler_hints.same_host: 'x' is not of type 'array'"),
        (_with("instance_group", {"uuid": U1, "policy": "spread"}), "instance_group.policy"),
        (_with("instance_group", {"uuid": U1, "policy": "affinity", "rules": {"max_server_per_host": 0}}),
         "instance_group.rules.max_server_per_host"),
        (_with("instance_group", {"policy": "affinity"}), "missing required field(s): instance_group.uuid"),
        (_with("requested_destination", {"aggregates": ["a,b"]}), "requested_destination.aggregates[0]"),
        (_with("requested_destination", {"host": "h", "port": 1}), "unknown field(s): requested_destination.port"),
        (_with("is_bfv", "yes"), "is_bfv"),
        (_with("requested_resources", [{"suffix": "p", "resources": {"VGPU": -1}}]),
         "requested_resources[0].resources.VGPU"),
        (_with("requested_resources", [{"suffix": "p", "resources": {"vgpu": 1}}]),
         "requested_resources[0].resources: 'vgpu' is not a placement name"),
        (_with("requested_resources", [{"suffix": "p!", "resources": {"VGPU": 1}}]), "requested_resources[0].suffix"),
        (_with("requested_resources", [{"suffix": "p", "in_tree": "x", "resources": {"VGPU": 1}}]),
         "requested_resources[0].in_tree"),
        (_with("requested_resources", [{"resources": {"VGPU": 1}}]), "requested_resources[0].suffix: a requested"),
        (_with("requested_resources", [{"suffix": "p"}]), "requested_resources[0]: the group asks for nothing"),
        (_with("request_level_params", {"same_subtree": [["nope"]]}),
         "request_level_params.same_subtree[0]: no request group has suffix nope"),
        (_with("request_level_params", {"root_required": ["A"], "root_forbidden": ["A"]}),
         "A both required and forbidden"),
        (_with("version", "one"), "version: expected 'MAJOR.MINOR'"),
        (_with("version", 1.0), "version: expected 'MAJOR.MINOR'"),
        (_with("version", "2.0"), "version: 2.0 is not supported"),
        (_with("version", "0.9"), "version: 0.9 is not supported"),
    ],
)
def test_invalid_dicts_are_refused_naming_the_field(data: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidRequestSpec) as info:
        RequestSpec.from_dict(data)
    assert message in str(info.value)


def test_cross_field_rules() -> None:
    with pytest.raises(InvalidRequestSpec, match="instance_uuids: 1 given for num_instances=2"):
        build(num_instances=2, instance_uuids=[U1])
    with pytest.raises(InvalidRequestSpec, match="instance_uuids: the same uuid is given twice"):
        build(num_instances=2, instance_uuids=[U1, U1])
    with pytest.raises(InvalidRequestSpec, match=r"requested_resources\[0\]\.suffix: '1' is already used"):
        build(flavor=flavor(**{"resources1:VGPU": "1"}), requested_resources=[RequestGroup("1", {"VGPU": 1})])
    with pytest.raises(InvalidRequestSpec, match=r"requested_resources\[1\]\.suffix: 'p' is already used"):
        build(requested_resources=[RequestGroup("p", {"VGPU": 1}), RequestGroup("p", {"VGPU": 1})])
    with pytest.raises(InvalidRequestSpec, match="scheduler_hints.group"):
        build(hints={"group": U2}, server_group=ServerGroup(U1, "affinity"))
    assert build(hints={"group": U1}, server_group=ServerGroup(U1, "affinity")).scheduler_hints == {"group": [U1]}
    # same_subtree may name flavor groups and requested groups alike.
    spec = build(
        flavor=flavor(**{"resources_A:VGPU": "1"}),
        requested_resources=[RequestGroup("port", {"SRIOV_NET_VF": 1})],
        request_level_params=RequestLevelParams(same_subtree=[["_A", "port"]]),
    )
    assert spec.request_level_params.same_subtree == [["_A", "port"]]


def test_cpu_policy_conflicts_between_flavor_and_image() -> None:
    with pytest.raises(InvalidRequestSpec, match="image.properties.hw_cpu_policy: the image may not override"):
        build(flavor=flavor(**{"hw:cpu_policy": "shared"}), image=Image(properties={"hw_cpu_policy": "dedicated"}))
    with pytest.raises(InvalidRequestSpec, match="image.properties.hw_cpu_thread_policy"):
        build(flavor=flavor(**{"hw:cpu_thread_policy": "isolate"}),
              image=Image(properties={"hw_cpu_thread_policy": "require"}))
    with pytest.raises(InvalidRequestSpec, match="image.properties.hw_cpu_policy: invalid CPU policy 'pinned'"):
        build(image=Image(properties={"hw_cpu_policy": "pinned"}))
    spec = build(flavor=flavor(**{"hw:cpu_policy": "dedicated"}), image=Image(properties={"hw_cpu_policy": "shared"}))
    assert spec.cpu_policies() == ("dedicated", None)
    spec = build(image=Image(properties={"hw_cpu_policy": "dedicated", "hw_cpu_thread_policy": "require"}))
    assert spec.cpu_policies() == ("dedicated", "require")


def test_validate_refuses_parts_of_the_wrong_type() -> None:
    spec = dataclasses.replace(build(), flavor={"name": "m1", "vcpus": 1, "memory_mb": 1})  # type: ignore[arg-type]
    with pytest.raises(InvalidRequestSpec, match="flavor: expected a Flavor, got dict"):
        spec.validate()
    spec = dataclasses.replace(build(), requested_resources=[{"suffix": "p"}])  # type: ignore[list-item]
    with pytest.raises(InvalidRequestSpec, match=r"requested_resources\[0\]: expected a RequestGroup"):
        spec.validate()


# -- versions ------------------------------------------------------------------------------------

def test_a_missing_version_means_the_current_one() -> None:
    spec = RequestSpec.from_dict(minimal())
    assert spec.version == SPEC_VERSION
    assert spec.flavor == Flavor("m1", 1, 512)


def test_a_newer_minor_version_drops_the_fields_this_reader_does_not_know() -> None:
    data = minimal()
    data["version"] = "1.7"
    data["flavor"]["description"] = "from the future"
    data["numa_topology"] = {"cells": 2}
    data["requested_resources"] = [{"suffix": "p", "resources": {"VGPU": 1}, "numa_node": 0}]
    spec = RequestSpec.from_dict(data)
    assert spec.version == SPEC_VERSION
    assert spec.requested_resources == [RequestGroup("p", {"VGPU": 1})]
    assert spec.to_dict()["flavor"] == {
        "name": "m1", "vcpus": 1, "memory_mb": 512, "root_gb": 0, "ephemeral_gb": 0, "swap": 0, "extra_specs": {},
    }
    # Known fields are still checked.
    data["num_instances"] = 0
    with pytest.raises(InvalidRequestSpec, match="num_instances"):
        RequestSpec.from_dict(data)


def test_from_json_and_from_dict_refuse_what_is_not_an_object() -> None:
    with pytest.raises(InvalidRequestSpec, match="not valid JSON"):
        RequestSpec.from_json(b"{flavor")
    with pytest.raises(InvalidRequestSpec, match="must be an object, got list"):
        RequestSpec.from_json("[]")
    with pytest.raises(InvalidRequestSpec, match="must be an object, got NoneType"):
        RequestSpec.from_dict(None)


def test_a_deep_copy_is_independent() -> None:
    spec = build(requested_destination=Destination(aggregates=[U1]))
    twin = copy.deepcopy(spec)
    assert twin.requested_destination is not None
    twin.requested_destination.aggregates.append(U2)
    twin.request_level_params.root_forbidden.append("COMPUTE_STATUS_DISABLED")
    assert spec.requested_destination is not None and spec.requested_destination.aggregates == [U1]
    assert spec.request_level_params.root_forbidden == []
