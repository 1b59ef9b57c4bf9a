"""What the allotment server under test wrote to its request log."""

from __future__ import annotations

import re

from allotment.bench.servers import RunningServer

_REQUEST = re.compile(r'allotment\.placement\.api .*"(?P<line>[A-Z]+ \S+)" status: (?P<status>\d{3})')


def requests_logged(server: RunningServer) -> list[tuple[str, int]]:
    """(method and path, status) of every request the server has logged so far."""
    text = (server.workdir / "server.log").read_text(errors="replace")
    return [(m["line"], int(m["status"])) for m in _REQUEST.finditer(text)]


def server_errors(server: RunningServer) -> list[str]:
    """Requests answered with a 5xx: always a bug, whatever the client made of it."""
    return [f"{line} -> {status}" for line, status in requests_logged(server) if status >= 500]
