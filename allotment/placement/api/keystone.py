"""The auth layer under ``[auth] strategy = "keystone"``: keystonemiddleware's auth_token around the inner layers.

The middleware is WSGI; the pipeline's layers pass ``Response`` objects. The gate turns the
inner layers into a WSGI application for the middleware and the middleware's answer back into
a ``Response``, so the outer layers (CORS, request log, request id) see it as any other.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from allotment.infra.keystone import keystone_auth
from allotment.placement.api.http import Response

__all__ = ["KeystoneGate"]


class KeystoneGate:
    """Calls ``inner`` for requests whose token Keystone confirmed; answers 401 itself otherwise."""

    def __init__(self, inner: Callable[[dict[str, Any]], Response], options: Mapping[str, Any]) -> None:
        def inner_wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
            return list(inner(environ)(environ, start_response))

        self._wsgi = keystone_auth(inner_wsgi, options)

    def __call__(self, environ: dict[str, Any]) -> Response:
        answer: list[Any] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
            answer[:] = [status, headers]

        chunks = self._wsgi(environ, start_response)
        try:
            body = b"".join(chunks)
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
        status, headers = answer
        # The outer layers count the body again when they send it.
        kept = [(k, v) for k, v in headers if k.lower() != "content-length"]
        return Response(int(status.split(" ", 1)[0]), body, kept)
