"""``PlacementClient.at``: the same connection at another microversion."""

from __future__ import annotations

from pathlib import Path

from allotment.client import direct


def test_at_speaks_another_microversion_over_the_same_connection(tmp_path: Path) -> None:
    with direct(f"sqlite:///{tmp_path}/placement.sqlite") as client:
        assert client.at(client.microversion) is client
        old = client.at("1.10")
        assert old.microversion == "1.10" and old.http is client.http
        rp = client.create_provider("cn1")
        # 1.10 answers without root_provider_uuid (1.14+); the default microversion has it.
        assert old.get_provider(rp.uuid).root_provider_uuid is None
        assert client.get_provider(rp.uuid).root_provider_uuid == rp.uuid
