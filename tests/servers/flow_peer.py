"""One process of a servers flow spread over several processes that talk through RabbitMQ.

    python -m tests.servers.flow_peer CONFIG.json api PORT
    python -m tests.servers.flow_peer CONFIG.json conductor
    python -m tests.servers.flow_peer CONFIG.json compute NAME

CONFIG holds ``placement`` (URL), ``registry`` and ``store`` (database URLs), ``transport``
(the amqp:// URL), and for computes ``spawn_time`` and ``failure_rate``. Each role prints
``ready`` once it serves, then runs until killed (SIGTERM stops it cleanly).
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from allotment.client import connect
from allotment.scheduler.config import SchedulerConfig
from allotment.scheduler.registry import Registry
from allotment.scheduler.service import Scheduler
from allotment.servers.api.app import create_app
from allotment.servers.compute.agent import ComputeAgent
from allotment.servers.compute.driver import FakeDriver
from allotment.servers.compute.inventory import HostInventory
from allotment.servers.compute_api import ComputeAPI
from allotment.servers.conductor import Conductor
from allotment.servers.store import ServerStore
from allotment.servers.transport import open_transport

HOST_DOWN_TIME = 3600.0


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def main(argv: list[str]) -> int:
    config = json.loads(open(argv[0]).read())
    role, rest = argv[1], argv[2:]
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    transport = open_transport(config["transport"])
    registry = Registry.open(config["registry"], service_down_time=HOST_DOWN_TIME)
    placement = connect(config["placement"], timeout=60)
    if role == "api":
        from socketserver import ThreadingMixIn
        from wsgiref.simple_server import WSGIServer

        class Server(ThreadingMixIn, WSGIServer):
            daemon_threads = True

        store = ServerStore.open(config["store"])
        httpd = make_server("127.0.0.1", int(rest[0]), create_app(ComputeAPI(store, registry, transport)),
                            server_class=Server, handler_class=_Quiet)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
    elif role == "conductor":
        store = ServerStore.open(config["store"])
        scheduler = Scheduler(placement, registry, SchedulerConfig(placement_url=config["placement"],
                                                                   db_url=config["registry"],
                                                                   service_down_time=int(HOST_DOWN_TIME)))
        Conductor(store, scheduler, transport).start()
    elif role == "compute":
        driver = FakeDriver(spawn_time=float(config.get("spawn_time", 0)),
                            failure_rate=float(config.get("failure_rate", 0)))
        ComputeAgent(rest[0], HostInventory.simple(**config.get("host", {})), placement=placement,
                     registry=registry, transport=transport, driver=driver, heartbeat_interval=0).start()
    else:
        print(f"unknown role {role}", file=sys.stderr)
        return 2
    print("ready", flush=True)
    stop.wait()
    transport.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
