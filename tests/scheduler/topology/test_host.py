"""The host topology document: what it accepts, what it refuses (naming the field), and its round trip."""

from __future__ import annotations

from typing import Any

import pytest

from allotment.scheduler.topology.host import HostTopology, TopologyError
from tests.scheduler.topology.test_scheduling import topology


def test_round_trip_and_defaults() -> None:
    topo = HostTopology.from_dict(topology(smt=True))
    assert HostTopology.from_dict(topo.to_dict()) == topo
    cell = topo.cell(0)
    assert cell.cpus == {0, 1} and cell.pcpus == {2, 3, 4, 5} and cell.threads_per_core == 2
    assert topo.has_smt and topo.total_pcpus == 8 and topo.total_cpus == 4
    plain = HostTopology.from_dict({"cells": [{"id": 0, "pcpus": "0-2", "memory_mb": 1024}]})
    # Dedicated CPUs no sibling set names are cores of their own.
    assert plain.cell(0).siblings == (frozenset({0}), frozenset({1}), frozenset({2}))
    assert not plain.has_smt
    vf = topo.device("0000:81:02.0")
    assert vf.rc == "CUSTOM_PCI_8086_154C" and vf.provider_address == "0000:81:00.0"


def _cells(**changes: Any) -> dict[str, Any]:
    return {"cells": [{"id": 0, "cpus": "0-1", "pcpus": "2-3", "memory_mb": 1024, **changes}]}


@pytest.mark.parametrize(("doc", "message"), [
    ([], "an object with 'cells'"),
    ({"cells": []}, "cells: a non-empty list"),
    ({"cells": [{"id": 0, "memory_mb": 1}], "extra": 1}, "unknown host topology field"),
    (_cells(cpus="0-2"), "CPU\\(s\\) 2 are both shared and dedicated"),
    (_cells(memory_mb=-1), "cells\\[0\\].memory_mb: expected an integer >= 0"),
    (_cells(pcpus="3-2"), "start after end"),
    (_cells(siblings=["2,3", "3"]), "siblings: CPU\\(s\\) 3 listed twice"),
    (_cells(siblings=["8,9"]), "siblings: CPU\\(s\\) 8-9 are not in the cell"),
    (_cells(pages=[{"size_kb": 4, "total": 1}, {"size_kb": 4, "total": 2}]), "a page size is listed twice"),
    (_cells(pages=[{"size_kb": 4, "total": 1, "reserved": 2}]), "more pages reserved than there are"),
    ({"cells": [{"id": 0, "cpus": "0", "memory_mb": 1}, {"id": 1, "pcpus": "0", "memory_mb": 1}]},
     "CPU\\(s\\) 0 appear in two cells"),
    ({**_cells(), "pci_devices": [{"address": "81:00.0", "vendor_id": "8086", "product_id": "1572"}]},
     "address: expected DDDD:BB:SS.F"),
    ({**_cells(), "pci_devices": [{"address": "0000:81:00.0", "vendor_id": "80", "product_id": "1572"}]},
     "vendor_id: expected 4 hex digits"),
    ({**_cells(), "pci_devices": [{"address": "0000:81:00.0", "vendor_id": "8086", "product_id": "1572",
                                   "numa_node": 3}]}, "numa_node: no cell has id 3"),
    ({**_cells(), "pci_devices": [{"address": "0000:81:02.0", "vendor_id": "8086", "product_id": "154c",
                                   "type": "type-VF", "parent": "0000:81:00.0"}]}, "which is not a PF listed here"),
    ({**_cells(), "pci_devices": [{"address": "0000:81:00.0", "vendor_id": "8086", "product_id": "1572",
                                   "type": "type-PF", "parent": "0000:81:00.1"}]}, "a VF names its PF's address"),
])
def test_bad_documents_name_the_field(doc: Any, message: str) -> None:
    with pytest.raises(TopologyError, match=message):
        HostTopology.from_dict(doc)
