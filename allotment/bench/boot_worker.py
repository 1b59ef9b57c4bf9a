"""One worker process of the ``boot`` workload when it spreads over several: a conductor and a share of the computes.

    python -m allotment.bench.boot_worker CONFIG.json INDEX

CONFIG (written by ``allotment.bench.workloads.boot``) names placement, the registry and
servers databases, the amqp:// transport, the number of computes and of workers; this
worker runs the computes whose index modulo the worker count is INDEX, and a conductor
that competes with the other workers' for the ``conductor`` queue. It prints ``ready``
once every compute reported its tree and registered, and on SIGTERM stops and prints one
JSON line: ``{"build_failures": N}``.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path


def main(argv: list[str]) -> int:
    from allotment.bench.workloads.boot import (CONDUCTOR_WORKERS, FAILURE_RATE, HOST, HOST_DOWN_TIME,
                                                SETUP_THREADS, CountingDriver, host_name)
    from allotment.client import connect
    from allotment.scheduler.config import SchedulerConfig
    from allotment.scheduler.registry import Registry
    from allotment.scheduler.service import Scheduler
    from allotment.servers.compute.agent import ComputeAgent
    from allotment.servers.compute.inventory import HostInventory
    from allotment.servers.conductor import Conductor
    from allotment.servers.store import ServerStore
    from allotment.servers.transport import open_transport

    config = json.loads(Path(argv[0]).read_text())
    index = int(argv[1])
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    transport = open_transport(config["transport"])
    mine = [i for i in range(config["computes"]) if i % config["workers"] == index]
    with Registry.open(config["registry"], service_down_time=HOST_DOWN_TIME, migrate=False) as registry, \
            ServerStore.open(config["store"], migrate=False) as store, \
            connect(config["placement"], timeout=config["timeout"]) as placement, \
            connect(config["placement"], timeout=config["timeout"]) as agents_placement:
        scheduler = Scheduler(placement, registry, SchedulerConfig(
            placement_url=config["placement"], db_url=config["registry"], service_down_time=int(HOST_DOWN_TIME)))
        conductor = Conductor(store, scheduler, transport, workers=CONDUCTOR_WORKERS)
        drivers = [CountingDriver(failure_rate=FAILURE_RATE, seed=config["seed"] + i) for i in mine]
        agents = [ComputeAgent(host_name(i), HostInventory.simple(**HOST), placement=agents_placement,
                               registry=registry, transport=transport, driver=d, heartbeat_interval=0, workers=1)
                  for i, d in zip(mine, drivers)]
        conductor.start()
        with ThreadPoolExecutor(SETUP_THREADS) as pool:
            list(pool.map(lambda a: a.start(), agents))
        print("ready", flush=True)
        stop.wait()
        conductor.stop()
        for a in agents:
            a.stop()
        transport.close()
    print(json.dumps({"build_failures": sum(d.failed for d in drivers)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
