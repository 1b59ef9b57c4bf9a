"""SchedulerClient over the in-process app (direct) and over real HTTP; errors are the registry's own."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest

from allotment.scheduler.api.app import create_app
from allotment.scheduler.client import SchedulerClient, connect, direct
from allotment.scheduler.registry import Conflict, GroupPolicyViolation, InvalidInput, NotFound, Registry
from tests.scheduler.registry.conftest import new_uuid


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def db_url(tmp_path) -> str:  # type: ignore[no-untyped-def]
    return f"sqlite:///{tmp_path}/registry.sqlite"


@pytest.fixture(params=["direct", "http"])
def client(request: pytest.FixtureRequest, db_url: str) -> Iterator[SchedulerClient]:
    if request.param == "direct":
        with direct(db_url) as c:
            yield c
        return
    registry = Registry.open(db_url)
    server: WSGIServer = make_server("127.0.0.1", 0, create_app(registry), handler_class=_Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with connect(f"http://127.0.0.1:{server.server_port}") as c:
            yield c
    finally:
        server.shutdown()
        server.server_close()
        registry.close()


def test_round_trip_of_every_kind(client: SchedulerClient, db_url: str) -> None:
    rp = new_uuid()
    host, created = client.register_host("c1", rp, {"supported_instances": [["x86_64", "qemu", "hvm"]],
                                                    "stats": {"a": "b"}})
    assert created and host.provider_uuid == rp and host.supported_instances == [("x86_64", "qemu", "hvm")]
    assert host.last_heartbeat is not None and host.last_heartbeat.tzinfo is None
    assert client.register_host("c1", rp, {"cell": "x"})[1] is False
    client.heartbeat("c1")
    assert client.set_host_status("c1", disabled=True, disabled_reason="r").disabled_reason == "r"
    assert client.set_host_status("c1", disabled=False).disabled_reason is None
    assert [h.name for h in client.list_hosts(cell="x")] == ["c1"]

    agg = client.create_aggregate("a1", metadata={"availability_zone": "az1"})
    assert client.add_aggregate_host(agg.uuid, "c1").hosts == ["c1"]
    assert client.set_aggregate_metadata(agg.uuid, {"k": "v"}).metadata == {"availability_zone": "az1", "k": "v"}
    assert client.rename_aggregate(agg.uuid, "a2").name == "a2"
    assert client.get_host("c1").aggregates == [agg.uuid]
    assert client.remove_aggregate_host(agg.uuid, "c1").hosts == []
    client.delete_aggregate(agg.uuid)
    assert client.list_aggregates() == []

    group = client.create_group("g", "anti-affinity", rules={"max_server_per_host": 1}, project_id="p")
    inst = new_uuid()
    instance, created = client.record_instance(inst, "c1", vcpus=2, task_state="spawning")
    assert created and instance.vcpus == 2
    assert client.set_task_state(inst, None).task_state is None
    assert client.add_group_member(group.uuid, inst, "c1").hosts == ["c1"]
    with pytest.raises(GroupPolicyViolation):
        client.add_group_member(group.uuid, new_uuid(), "c1")
    assert [g.uuid for g in client.list_groups(project_id="p")] == [group.uuid]
    assert client.get_group(group.uuid).to_spec().members == [inst]
    client.remove_group_member(group.uuid, inst)
    client.remove_instance(inst)
    client.delete_group(group.uuid)
    client.delete_host("c1")

    # What went through the API is what the registry holds.
    with Registry.open(db_url) as reg:
        assert reg.list_hosts() == [] and reg.list_groups() == [] and reg.list_instances() == []


def test_errors_are_the_registry_exceptions(client: SchedulerClient) -> None:
    with pytest.raises(NotFound) as nf:
        client.get_host("ghost")
    assert nf.value.code == "scheduler.host.not_found" and "ghost" in nf.value.detail
    rp = new_uuid()
    client.register_host("c1", rp)
    with pytest.raises(Conflict) as conflict:
        client.register_host("c2", rp)
    assert conflict.value.code == "scheduler.host.provider_in_use"
    with pytest.raises(InvalidInput):
        client.register_host("c3", "not-a-uuid")
    with pytest.raises(InvalidInput):
        client.create_group("g", "sometimes")


def test_connect_to_nothing_raises_a_transport_error() -> None:
    import httpx

    with connect("http://127.0.0.1:9", retries=0, timeout=2) as c, pytest.raises(httpx.TransportError):
        c.list_hosts()
