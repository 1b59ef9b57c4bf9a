"""A threaded stdlib WSGI server for the one-process start: the API shares its process with the conductor and computes.

(gunicorn forks workers, and the in-process transport does not cross a fork.)
"""

from __future__ import annotations

import socketserver
import threading
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

__all__ = ["serve_in_thread", "threaded_server"]


class _ThreadedWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # the app logs what matters
        pass


def threaded_server(app: Any, host: str = "127.0.0.1", port: int = 8780) -> WSGIServer:
    """A server bound to (host, port) (port 0: any free port; read ``server.server_port``)."""
    return make_server(host, port, app, server_class=_ThreadedWSGIServer, handler_class=_QuietHandler)


def serve_in_thread(app: Any, host: str = "127.0.0.1", port: int = 0) -> tuple[WSGIServer, str]:
    """Serve ``app`` from a daemon thread; (server, base URL). Stop with ``server.shutdown()``."""
    server = threaded_server(app, host, port)
    threading.Thread(target=server.serve_forever, name="compute-api", daemon=True).start()
    return server, f"http://{host}:{server.server_port}"
