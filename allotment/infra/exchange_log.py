"""Opt-in record of every HTTP exchange a server answers, one JSON line each.

Set ``ALLOTMENT_RECORD_EXCHANGES=/path/file.jsonl`` before ``allotment serve`` (or
``allotment scheduler serve``) and each request and its answer are appended to that
file: method, path, query, request headers and body, status, response headers and body.
It exists to check what the servers answer against their OpenAPI documents (the
conformance run records, a test validates); it is not meant for production, where it
would write every body to disk.
"""

from __future__ import annotations

import base64
import io
import json
import os
import threading
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["ENV_VAR", "ExchangeRecorder", "wrap_from_environment"]

ENV_VAR = "ALLOTMENT_RECORD_EXCHANGES"


def _text(data: bytes) -> dict[str, str]:
    try:
        return {"text": data.decode("utf-8")}
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(data).decode("ascii")}


class ExchangeRecorder:
    """WSGI middleware appending one JSON line per exchange to ``path``."""

    def __init__(self, app: Callable[..., Iterable[bytes]], path: str) -> None:
        self.app = app
        self.path = path
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        body = b""
        if length > 0:
            body = environ["wsgi.input"].read(length)
            environ["wsgi.input"] = io.BytesIO(body)
        request_headers = {k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")}
        if environ.get("CONTENT_TYPE"):
            request_headers["content-type"] = environ["CONTENT_TYPE"]
        seen: dict[str, Any] = {}

        def recording_start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            seen["status"] = int(status.split(" ", 1)[0])
            seen["headers"] = [[k, v] for k, v in headers]
            return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)

        result = self.app(environ, recording_start)
        try:
            chunks = list(result)
        finally:
            close = getattr(result, "close", None)  # the WSGI contract: close what the app returned
            if close is not None:
                close()
        record = {
            "method": environ["REQUEST_METHOD"],
            "path": environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", ""),
            "query": environ.get("QUERY_STRING", ""),
            "request_headers": request_headers,
            "request_body": _text(body),
            "status": seen.get("status"),
            "response_headers": seen.get("headers", []),
            "response_body": _text(b"".join(chunks)),
        }
        line = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
        # One write per line on an O_APPEND descriptor: workers in several processes may share the file.
        with self._lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line)
            finally:
                os.close(fd)
        return chunks


def wrap_from_environment(app: Any) -> Any:
    """``app`` wrapped in an ExchangeRecorder when ``ALLOTMENT_RECORD_EXCHANGES`` names a file, else ``app``."""
    path = os.environ.get(ENV_VAR)
    return ExchangeRecorder(app, path) if path else app
