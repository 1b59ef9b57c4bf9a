"""The servers flow with the compute API and conductor in one process (``allotment servers serve``) and
each compute agent in a process of its own (``allotment compute run``), talking through RabbitMQ: creates (one, and several under a reservation id), a cold migration
confirmed, a resize reverted, deletes; after each, placement's usages equal what the live
servers and open migrations hold. On every backend (``db_url``: SQLite, and PostgreSQL and
MariaDB when their servers answer)."""

from __future__ import annotations

from pathlib import Path

from tests.servers.flow_cluster import BIG, cluster
from tests.servers.rabbit import require_broker


def test_servers_flow_across_processes_over_rabbitmq(tmp_path: Path, db_url: str) -> None:
    require_broker()
    with cluster(tmp_path, computes=2, db_url=db_url) as c:
        one = c.create()["server"]["id"]
        s = c.wait_status(one, "ACTIVE")
        assert s["host"] in c.computes
        assert c.usage_mismatches() == {}

        reservation = c.create(3, return_reservation_id=True)
        assert set(reservation) == {"reservation_id"}
        listed = c.http.get("/servers", params={"reservation_id": reservation["reservation_id"]}).json()["servers"]
        assert len(listed) == 3
        for server in listed:
            c.wait_status(server["id"], "ACTIVE")
        assert c.usage_mismatches() == {}
        # Both compute processes took builds: the conductor reached each through its own queue.
        assert {c.server(x["id"])["host"] for x in listed} | {s["host"]} == set(c.computes)

        source = s["host"]
        assert c.http.post(f"/servers/{one}/action", json={"migrate": None}).status_code == 202
        moved = c.wait_status(one, "VERIFY_RESIZE")
        assert moved["host"] != source
        assert c.usage_mismatches() == {}  # the migration holds the source, the server the target
        assert c.http.post(f"/servers/{one}/action", json={"confirmResize": None}).status_code == 202
        c.wait_status(one, "ACTIVE")
        assert c.usage_mismatches() == {}

        other = listed[0]["id"]
        assert c.http.post(f"/servers/{other}/action", json={"resize": {"flavor": BIG}}).status_code == 202
        c.wait_status(other, "VERIFY_RESIZE")
        assert c.http.post(f"/servers/{other}/action", json={"revertResize": None}).status_code == 202
        reverted = c.wait_status(other, "ACTIVE")
        assert reverted["flavor"]["name"] == "small"
        assert c.usage_mismatches() == {}

        for uuid in [one, *(x["id"] for x in listed)]:
            assert c.http.delete(f"/servers/{uuid}").status_code == 204
        for uuid in [one, *(x["id"] for x in listed)]:
            c.wait_status(uuid, "DELETED")
        assert c.usage_mismatches() == {}
        assert c.audit(heal=False, stuck_after=60) == []


def test_audit_takes_the_computes_transport_and_refuses_an_unknown_one(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from allotment.cli.main import cli

    result = CliRunner().invoke(cli, ["audit", "--servers-db", f"sqlite:///{tmp_path / 'a.sqlite'}",
                                       "--transport", "kafka://nowhere"])
    assert result.exit_code == 1
    assert "unknown transport URL 'kafka://nowhere'" in result.output
