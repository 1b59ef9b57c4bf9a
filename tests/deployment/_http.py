"""Raw HTTP over a socket, for what httpx will not do: send part of a body, or stream chunks, while the answer
is read in parallel (a server that answers early may close before it has everything)."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


@dataclass
class RawAnswer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def _read_answer(sock: socket.socket) -> RawAnswer:
    data = b""
    while b"\r\n\r\n" not in data:
        part = sock.recv(65536)
        if not part:
            raise ConnectionError(f"connection closed before an answer: {data!r}")
        data += part
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        part = sock.recv(65536)
        if not part:
            break
        body += part
    return RawAnswer(status, headers, body[:length])


def exchange(url: str, head: str, body_parts: Iterable[bytes] = (), *, timeout: float = 15.0) -> RawAnswer:
    """Send ``head`` (request line and headers, without the blank line) and the body parts from a thread; return
    the answer as soon as it comes, whether or not the parts were all sent. A server that waits for a body never
    sent makes this raise ``socket.timeout`` after ``timeout`` seconds."""
    where = urlsplit(url)
    sock = socket.create_connection((where.hostname or "127.0.0.1", where.port or 80), timeout=timeout)

    def send() -> None:
        try:
            sock.sendall(head.encode("latin-1") + b"\r\n\r\n")
            for part in body_parts:
                sock.sendall(part)
        except OSError:
            pass  # the server answered and closed: what the caller wants to see

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    try:
        return _read_answer(sock)
    finally:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)  # wakes a sender blocked in sendall, which close() would not
        sock.close()
        sender.join(timeout)


def chunks(total: int, size: int = 64 << 10, *, last: bool = True) -> Iterable[bytes]:
    """``total`` bytes of a JSON-ish filler in chunked encoding; ``last``: the terminating chunk too."""
    sent = 0
    while sent < total:
        n = min(size, total - sent)
        yield f"{n:x}\r\n".encode() + b"x" * n + b"\r\n"
        sent += n
    if last:
        yield b"0\r\n\r\n"
