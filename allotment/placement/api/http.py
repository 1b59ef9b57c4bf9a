"""Request, Response and HTTPError: the thin WSGI layer every handler uses.

Error bodies reproduce what upstream Placement (webob underneath) sends, because
clients and the upstream test files read them: the content type follows the
``Accept`` header (JSON, HTML or plain text) and the JSON form is the API-WG
envelope ``{"errors": [{"status", "title", "detail", "code", "request_id"}]}``.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, quote, urljoin

import orjson

__all__ = [
    "HTTPError",
    "Request",
    "Response",
    "acceptable_offers",
    "json_response",
]

ENV_MICROVERSION = "placement.microversion"
ENV_REQUEST_ID = "openstack.request_id"
ENV_ERROR_CODE = "placement.error_code"

# The first, generic sentence webob puts before the detail of each error status.
_EXPLANATIONS = {
    400: "The server could not comply with the request since it is either malformed or otherwise incorrect.",
    401: (
        "This server could not verify that you are authorized to access the document you requested. "
        "Either you supplied the wrong credentials (e.g., bad password), or your browser does not "
        "understand how to supply the credentials required."
    ),
    403: "Access was denied to this resource.",
    404: "The resource could not be found.",
    409: "There was a conflict when trying to complete your request.",
    413: "The request is larger than the server is willing or able to process.",
    500: "The server has either erred or is incapable of performing the requested operation.",
    503: "The server is currently unavailable. Please try again at a later time.",
}
# Statuses whose body starts with a sentence built from the request instead.
_LEADS: dict[int, Callable[[dict[str, Any]], str]] = {
    405: lambda env: f"The method {env.get('REQUEST_METHOD', '')} is not allowed for this resource. ",
    406: lambda env: (
        "The resource could not be generated that was acceptable to your browser\n"
        f"(content of type {env.get('HTTP_ACCEPT', '')}. "
    ),
    415: lambda env: f"The request media type {env.get('CONTENT_TYPE', '')} is not supported by this server.\n",
}
_BR = re.compile(r"<br.*?>", re.I | re.S)
_TAG = re.compile(r"<.*?>", re.S)


def _absolute(environ: dict[str, Any], location: str) -> str:
    if "://" in location:
        return location
    scheme = environ.get("wsgi.url_scheme", "http")
    host = environ.get("HTTP_HOST")
    if not host:
        host = environ.get("SERVER_NAME", "localhost")
        port = str(environ.get("SERVER_PORT", ""))
        if port and port != ("443" if scheme == "https" else "80"):
            host = f"{host}:{port}"
    base = f"{scheme}://{host}{quote(environ.get('SCRIPT_NAME', '') + environ.get('PATH_INFO', ''))}"
    return urljoin(base, location)


def _status_line(status: int) -> str:
    return f"{status} {HTTPStatus(status).phrase}"


def _strip_tags(value: str) -> str:
    value = value.replace("\n", " ").replace("\r", "")
    return _TAG.sub("", _BR.sub("\n", value))


class Response:
    """A status, a header list and a body of bytes."""

    __slots__ = ("status", "headers", "body")

    def __init__(self, status: int = 200, body: bytes = b"", headers: list[tuple[str, str]] | None = None) -> None:
        self.status = status
        self.body = body
        self.headers = headers if headers is not None else []

    def add_header(self, name: str, value: str) -> None:
        self.headers.append((name, value))

    def has_header(self, name: str) -> bool:
        lname = name.lower()
        return any(k.lower() == lname for k, _ in self.headers)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        # Location headers go out absolute, resolved against the request URL (as webob does).
        headers = [(k, _absolute(environ, v)) if k.lower() == "location" else (k, v) for k, v in self.headers]
        if self.status not in (204, 304):
            headers.append(("content-length", str(len(self.body))))
        start_response(_status_line(self.status), headers)
        return [self.body] if self.body else []


def json_response(data: Any, status: int = 200) -> Response:
    return Response(status, orjson.dumps(data), [("content-type", "application/json")])


def acceptable_offers(header: str | None, offers: list[str]) -> list[str]:
    """The offers an ``Accept`` header allows, best first (RFC 7231 media ranges and q-values)."""
    if header is None:
        return list(offers)
    ranges: list[tuple[str, str, float]] = []
    for part in header.split(","):
        part = part.strip()
        if not part:
            continue
        media, *params = (p.strip() for p in part.split(";"))
        q = 1.0
        for p in params:
            if p.lower().startswith("q="):
                try:
                    q = float(p[2:])
                except ValueError:
                    return list(offers)  # an invalid header counts as no header
        if "/" not in media:
            return list(offers)
        typ, sub = media.lower().split("/", 1)
        ranges.append((typ, sub, q))
    scored: list[tuple[float, int, str]] = []
    for index, offer in enumerate(offers):
        otyp, osub = offer.lower().split("/", 1)
        best: tuple[int, float] | None = None
        for typ, sub, q in ranges:
            if typ == "*" and sub == "*":
                spec = 0
            elif typ == otyp and sub == "*":
                spec = 1
            elif typ == otyp and sub == osub:
                spec = 2
            else:
                continue
            if best is None or spec > best[0]:
                best = (spec, q)
        if best is not None and best[1] > 0:
            scored.append((-best[1], index, offer))
    return [offer for _, _, offer in sorted(scored)]


class HTTPError(Exception):
    """An error response. ``detail`` is the specific message, ``code`` the stable error code."""

    def __init__(
        self,
        status: int,
        detail: str = "",
        *,
        code: str | None = None,
        headers: list[tuple[str, str]] | None = None,
        envelope: bool = True,
        vary: bool = True,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.code = code
        self.headers = headers or []
        # Upstream formats a few early errors (missing token) with webob's own
        # JSON shape instead of the errors envelope.
        self.envelope = envelope
        # False for the errors upstream raises outside its handlers (unknown route,
        # content-type checks, policy refusals, a lookup's NotFound left uncaught):
        # they reach its microversion layer as exceptions, which get the version
        # header but no ``vary``.
        self.vary = vary

    def _body_html(self, environ: dict[str, Any], escape: Callable[[str], str]) -> str:
        lead = _LEADS.get(self.status)
        if lead is not None:
            return f"{escape(lead(environ))}<br /><br />\n{escape(self.detail)}"
        return f"{escape(_EXPLANATIONS.get(self.status, ''))}<br /><br />\n{escape(self.detail)}\n\n"

    def to_response(self, environ: dict[str, Any]) -> Response:
        status_line = _status_line(self.status)
        title = HTTPStatus(self.status).phrase
        offers = acceptable_offers(environ.get("HTTP_ACCEPT"), ["text/html", "application/json"])
        match = offers[0] if offers else None
        if match == "application/json":
            raw = self._body_html(environ, lambda s: s)
            detail = _strip_tags(raw)
            if self.envelope:
                error: dict[str, Any] = {"status": self.status, "title": title, "detail": detail}
                version = environ.get(ENV_MICROVERSION)
                if version is not None and version.matches((1, 23)):
                    error["code"] = self.code or environ.get(ENV_ERROR_CODE) or "placement.undefined_code"
                if ENV_REQUEST_ID in environ:
                    error["request_id"] = environ[ENV_REQUEST_ID]
                if self.status == 406 and version is None:
                    from allotment.placement.api.microversion import MAX_VERSION, MIN_VERSION

                    error["max_version"] = MAX_VERSION
                    error["min_version"] = MIN_VERSION
                payload: Any = {"errors": [error]}
            else:
                payload = {"message": raw, "code": status_line, "title": title}
            body = json.dumps(payload).encode()
            ctype = "application/json"
        elif match == "text/html":
            inner = self._body_html(environ, lambda s: html.escape(s, quote=True))
            body = (
                f"<html>\n <head>\n  <title>{status_line}</title>\n </head>\n <body>\n"
                f"  <h1>{status_line}</h1>\n  {inner}\n </body>\n</html>"
            ).encode()
            ctype = "text/html; charset=UTF-8"
        else:
            body = f"{status_line}\n\n{_strip_tags(self._body_html(environ, lambda s: s))}".encode()
            ctype = "text/plain; charset=UTF-8"
        return Response(self.status, body, [("content-type", ctype), *self.headers])


class Request:
    """What a handler sees of a WSGI request."""

    __slots__ = ("environ", "method", "path", "params", "_query", "_body", "context", "app")

    def __init__(self, environ: dict[str, Any], params: dict[str, str] | None = None) -> None:
        self.environ = environ
        self.method: str = environ["REQUEST_METHOD"]
        self.path: str = environ.get("PATH_INFO", "")
        self.params = params or {}
        self._query: list[tuple[str, str]] | None = None
        self._body: bytes | None = None
        self.context: Any = environ.get("placement.context")
        self.app: Any = None

    @property
    def version(self) -> Any:
        return self.environ[ENV_MICROVERSION]

    def header(self, name: str, default: str | None = None) -> str | None:
        key = "HTTP_" + name.upper().replace("-", "_")
        if key == "HTTP_CONTENT_TYPE":
            key = "CONTENT_TYPE"
        elif key == "HTTP_CONTENT_LENGTH":
            key = "CONTENT_LENGTH"
        return self.environ.get(key, default)

    @property
    def query(self) -> list[tuple[str, str]]:
        """The query string as (name, value) pairs, in order, repeats kept."""
        if self._query is None:
            raw = self.environ.get("QUERY_STRING", "")
            try:
                self._query = parse_qsl(raw, keep_blank_values=True, errors="strict")
            except UnicodeDecodeError as exc:
                raise HTTPError(400, f"Invalid query string parameters: {exc}") from None
            if any("\x00" in k or "\x00" in v for k, v in self._query):
                raise HTTPError(400, "Invalid query string parameters: NUL characters are not allowed")
        return self._query

    def get(self, name: str) -> str | None:
        """The last value of a query parameter (as webob's ``GET[name]``)."""
        value = None
        for k, v in self.query:
            if k == name:
                value = v
        return value

    def getall(self, name: str) -> list[str]:
        return [v for k, v in self.query if k == name]

    def query_dict(self) -> dict[str, str]:
        return {k: v for k, v in self.query}

    @property
    def content_type(self) -> str:
        return (self.environ.get("CONTENT_TYPE") or "").split(";", 1)[0].strip().lower()

    @property
    def body(self) -> bytes:
        if self._body is None:
            try:
                length = int(self.environ.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0
            stream = self.environ.get("wsgi.input")
            chunks: list[bytes] = []
            missing = length
            while stream is not None and missing > 0:
                chunk = stream.read(missing)
                if not chunk:
                    break
                chunks.append(chunk)
                missing -= len(chunk)
            if missing > 0:
                # A client that disconnects early must not have the part it sent acted upon.
                raise HTTPError(
                    400, f"Request body incomplete: received {length - missing} of {length} bytes"
                )
            self._body = b"".join(chunks)
        return self._body

    def json(self) -> Any:
        """The body parsed as JSON; a 400 when it is not JSON placement can store."""
        body = self.body
        if b"\\u0000" in body:
            raise HTTPError(400, "Malformed JSON: NUL characters are not allowed")
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:
            pass
        # orjson refuses some documents the stdlib accepts (integers beyond 64
        # bits); let the stdlib decide, and word the error as upstream does. NaN
        # and Infinity are no JSON, and lone surrogates no text a database stores.
        try:
            data = json.loads(body.decode("utf-8"), parse_constant=_no_constants)
            json.dumps(data, ensure_ascii=False).encode("utf-8")
            return data
        except (ValueError, UnicodeError, RecursionError) as exc:
            raise HTTPError(400, f"Malformed JSON: {exc}") from None


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")
