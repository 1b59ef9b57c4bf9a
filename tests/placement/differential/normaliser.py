"""Reduce an answer to what must be equal on both servers.

Dropped or reduced, because they differ by nature: request ids, ``date``, ``server``
and ``content-length`` headers, the value (not the presence) of ``last-modified``,
the scheme and host of ``location``, JSON spacing and key order, the dump of the
server's internal JSON schema that follows a schema error's message, and uuids a server
generated (mapped onto upstream's before comparing). Lists are compared as sets
(upstream's queries have no ORDER BY, so it defines no order), and allocation
candidates only by count under ``limit``
(which candidates upstream keeps is "deterministic but undefined").
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from .generator import Call

__all__ = ["Answer", "UuidPairs", "normalise", "reconcile"]

COMPARED_HEADERS = ("content-type", "openstack-api-version", "vary", "location", "cache-control", "allow")
UUID_RE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


class UuidPairs:
    """Server-generated uuids: upstream's and allotment's for the same object."""

    def __init__(self) -> None:
        self.to_allotment: dict[str, str] = {}
        self.to_upstream: dict[str, str] = {}

    def add(self, upstream: str, allotment: str) -> None:
        self.to_allotment[upstream] = allotment
        self.to_upstream[allotment] = upstream

    @staticmethod
    def _swap(text: str, table: dict[str, str]) -> str:
        if not table:
            return text
        return UUID_RE.sub(lambda m: table.get(m.group(0), m.group(0)), text)

    def known(self) -> set[str]:
        """Upstream's generated uuids (allotment's are compared as these)."""
        return set(self.to_allotment)

    def for_allotment(self, text: str) -> str:
        return self._swap(text, self.to_allotment)

    def as_upstream(self, text: str) -> str:
        return self._swap(text, self.to_upstream)


@dataclass
class Answer:
    """The comparable part of one response."""

    status: int
    headers: dict[str, Any]
    body: Any

    def brief(self, limit: int = 700) -> str:
        body = self.body if isinstance(self.body, str) else json.dumps(self.body, sort_keys=True)
        return f"{self.status} {json.dumps(self.headers, sort_keys=True)} {body[:limit]}"


def _vary(value: str) -> list[str]:
    return sorted({v.strip().lower() for v in value.split(",") if v.strip()})


def _headers(resp: httpx.Response, pairs: UuidPairs | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in COMPARED_HEADERS:
        values = resp.headers.get_list(name)
        if not values:
            continue
        value = ", ".join(values)
        if name == "vary":
            out[name] = _vary(value)
        elif name == "allow":
            out[name] = sorted(v.strip() for v in value.split(","))
        elif name == "location":
            parts = urlsplit(value)
            path = parts.path + ("?" + parts.query if parts.query else "")
            out[name] = pairs.as_upstream(path) if pairs else path
        elif name == "content-type":
            out[name] = value.lower().replace(" ", "")
        else:
            out[name] = value
    out["last-modified"] = "last-modified" in resp.headers
    out["request-id"] = "x-openstack-request-id" in resp.headers
    return out


# Messages in which upstream joins names in Python set order (random from run to run):
# the listed parts are sorted before comparing.
_SET_ORDERED = [
    (re.compile(r"Inventory for '([^']*)' on resource provider '([^']*)' invalid"), ", "),
    (re.compile(r"No such trait ([^.]*?)  ?$"), ", "),
    (re.compile(r"`same_subtree`: \[([^]]*)\] not found in \[([^]]*)\]"), ", "),
]
# Messages in which upstream names one of several names, the first in set order: equal
# when both servers name one name the request holds (see ``reconcile``).
ONE_OF_SEVERAL = re.compile(r"No such trait\(s\): ([^ ,]+)\.")


def _sorted_groups(m: re.Match[str], sep: str) -> str:
    text = m[0]
    for i in range(len(m.groups()), 0, -1):
        start, end = m.start(i) - m.start(0), m.end(i) - m.start(0)
        text = text[:start] + sep.join(sorted(m[i].split(sep))) + text[end:]
    return text


def _detail(detail: Any) -> Any:
    if not isinstance(detail, str):
        return detail
    # A JSON-schema failure ends with a dump of the (internal) schema; keep the message only.
    detail = detail.split("  Failed validating", 1)[0]
    for pattern, sep in _SET_ORDERED:
        detail = pattern.sub(functools.partial(_sorted_groups, sep=sep), detail)
    return detail


def reconcile(up: Answer, al: Answer, call: Call) -> None:
    """Make equal what differs only by upstream's set-order pick of one name among several."""
    if not (isinstance(up.body, dict) and isinstance(al.body, dict) and "errors" in up.body and "errors" in al.body):
        return
    url = call.url() + (call.content() or b"").decode("utf-8", "replace")
    for ue, ae in zip(up.body["errors"], al.body["errors"], strict=False):
        mu, ma = ONE_OF_SEVERAL.search(str(ue.get("detail"))), ONE_OF_SEVERAL.search(str(ae.get("detail")))
        if mu and ma and mu[1] != ma[1] and mu[1] in url and ma[1] in url:
            ae["detail"] = str(ae["detail"]).replace(ma[0], mu[0])


def _errors(body: dict[str, Any], known: set[str] | None) -> list[dict[str, Any]]:
    out = []
    for e in body.get("errors", []):
        detail = _detail(e.get("detail"))
        if known is not None and isinstance(detail, str):
            # A uuid no request named was generated by the server (a provider created without one).
            detail = UUID_RE.sub(lambda m: m[0] if m[0] in known else "<generated uuid>", detail)
        out.append({**{k: e.get(k) for k in ("status", "title", "code")}, "detail": detail})
    return out


def _identity(value: Any) -> str:
    """Sort key: the uuid or name of an object (so one differing field does not reorder the list)."""
    if isinstance(value, dict):
        for key in ("uuid", "name"):
            if isinstance(value.get(key), str):
                return f"{key}:{value[key]}"
    return json.dumps(value, sort_keys=True)


def _unordered(value: Any) -> Any:
    """Every list sorted: upstream's queries have no ORDER BY, so no list order is defined."""
    if isinstance(value, dict):
        return {k: _unordered(v) for k, v in value.items()}
    if isinstance(value, list):
        return sorted((_unordered(v) for v in value), key=_identity)
    return value


def _candidates(body: dict[str, Any], limited: bool) -> dict[str, Any]:
    if limited:
        return {"allocation_requests (count under limit)": len(body.get("allocation_requests", []))}
    return body


def normalise(
    resp: httpx.Response, call: Call, pairs: UuidPairs | None = None, known: set[str] | None = None
) -> Answer:
    """The comparable answer; ``pairs`` maps allotment's generated uuids back to upstream's;
    uuids in error details that are not ``known`` (named by a request) are masked."""
    text = resp.text
    if pairs is not None:
        text = pairs.as_upstream(text)
    body: Any = text
    if "json" in resp.headers.get("content-type", "") and text:
        try:
            body = json.loads(text)
        except ValueError:
            body = text
    if isinstance(body, dict) and "errors" in body:
        body = {"errors": _errors(body, known)}
    elif isinstance(body, dict | list):
        if isinstance(body, dict) and call.op == "candidates" and resp.status_code == 200:
            body = _candidates(body, any(k == "limit" for k, _ in call.query))
        body = _unordered(body)
    elif isinstance(body, str):
        # Non-JSON error pages (webob style) carry no request id, but strip one to be safe.
        body = re.sub(r"req-" + UUID_RE.pattern, "req-<id>", body)
    return Answer(resp.status_code, _headers(resp, pairs), body)
