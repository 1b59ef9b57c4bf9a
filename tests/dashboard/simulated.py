"""A results file made by running the fleet simulator at tiny scale, for the dashboard to read.

32 hosts of 16 VCPU and 64 GB, 300 arrivals of the default flavor mix at one a second living
exp(400 s): the fleet fills up, so there are refusals and stranded capacity to show; 3 hosts
fail at 120 s for 60 s and 3 go into maintenance at 200 s for 60 s. Spread and pack, with
``--verify``, through the runner that ``allotment simulate`` calls.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from allotment.simulator.configs import parse_config
from allotment.simulator.events import HostEvent
from allotment.simulator.fleet import FleetSpec
from allotment.simulator.runner import Plan, run_plan
from allotment.simulator.workload import DEFAULT_FLAVORS, parse_lifetime, synthetic

HOSTS = 32
ARRIVALS = 300
LABELS = ("spread", "pack")


def write_results(path: Path) -> dict[str, Any]:
    """Run the simulation, write its results file at ``path`` and return the document."""
    lifetime = parse_lifetime("exp:400")
    arrivals = synthetic(ARRIVALS, 1.0, lifetime, DEFAULT_FLAVORS, random.Random(14))
    plan = Plan(FleetSpec(HOSTS, vcpus=16, memory_mb=65536, disk_gb=1000), DEFAULT_FLAVORS, arrivals,
                {"kind": "synthetic", "arrivals": ARRIVALS, "rate_per_s": 1.0, "lifetime": str(lifetime)},
                [parse_config(label) for label in LABELS],
                [HostEvent("failure", 120.0, 3, 60.0), HostEvent("maintenance", 200.0, 3, 60.0)],
                seed=14, verify=True)
    document = run_plan(plan)
    path.write_text(json.dumps(document, indent=1) + "\n")
    return document
