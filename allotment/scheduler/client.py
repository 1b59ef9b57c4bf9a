"""A client for the scheduler service's API (registry and scheduling), over HTTP or in-process.

Same pattern as ``allotment.client``: one httpx client stack, with an HTTP transport
(``connect``) or httpx's WSGITransport around the complete scheduler app (``direct``).
Errors raise the scheduler's own exceptions, by the answer's code through
``allotment.scheduler.errors.from_answer`` (NotFound, Conflict, GroupPolicyViolation,
InvalidInput, NoValidHost, InvalidRequestSpec, ...), so code runs the same against
``Registry`` and this client::

    with direct("sqlite:///./allotment.sqlite") as client:
        client.register_host("compute1", provider_uuid, {"hypervisor_type": "QEMU"})
"""

from __future__ import annotations

import contextlib
import datetime as dt
import urllib.parse
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import httpx

from allotment.scheduler.errors import NoValidHost, SchedulerError, ServerError, from_answer
from allotment.scheduler.registry.models import Aggregate, Group, Host, Instance

__all__ = ["SchedulerClient", "ServerError", "connect", "direct"]

_UNSET: Any = object()


def _error(resp: httpx.Response) -> SchedulerError:
    detail, code, explanation = resp.text[:500], None, None
    try:
        first = resp.json()["errors"][0]
        detail, code, explanation = str(first.get("detail", "")), first.get("code"), first.get("explanation")
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        pass
    exc = from_answer(resp.status_code, code, detail)
    if isinstance(exc, NoValidHost) and isinstance(explanation, dict):
        exc.explanation = explanation
    return exc


def _time(value: str | None) -> dt.datetime | None:
    if value is None:
        return None
    parsed = dt.datetime.fromisoformat(value)
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(dt.UTC).replace(tzinfo=None)
    return parsed


def _host(j: dict[str, Any]) -> Host:
    return Host(**{**j, "supported_instances": [tuple(t) for t in j["supported_instances"]],
                   "last_heartbeat": _time(j["last_heartbeat"]), "created_at": _time(j["created_at"]),
                   "updated_at": _time(j["updated_at"])})


def _aggregate(j: dict[str, Any]) -> Aggregate:
    return Aggregate(**{**j, "created_at": _time(j["created_at"]), "updated_at": _time(j["updated_at"])})


def _group(j: dict[str, Any]) -> Group:
    fields = {k: v for k, v in j.items() if k != "hosts"}  # ``hosts`` is derived from members
    return Group(**{**fields, "created_at": _time(j["created_at"]), "updated_at": _time(j["updated_at"])})


def _instance(j: dict[str, Any]) -> Instance:
    return Instance(**{**j, "created_at": _time(j["created_at"]), "updated_at": _time(j["updated_at"])})


def _seg(value: str) -> str:
    return urllib.parse.quote(value, safe="")


class SchedulerClient:
    """Every call of the scheduler API as a method: the registry's, and scheduling."""

    def __init__(self, http: httpx.Client) -> None:
        self.http = http

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> SchedulerClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, method: str, path: str, *, json: Any = None,
                params: Mapping[str, str] | Sequence[tuple[str, str]] | None = None) -> Any:
        """One call: the decoded JSON body (None when empty), or the scheduler's exception for the error."""
        query = params if params is None or isinstance(params, Mapping) else tuple(params)
        resp = self.http.request(method, path, json=json, params=query)
        if resp.status_code >= 400:
            raise _error(resp)
        return resp.json() if resp.content else None

    def _created(self, method: str, path: str, json: Any) -> tuple[Any, bool]:
        resp = self.http.request(method, path, json=json)
        if resp.status_code >= 400:
            raise _error(resp)
        return resp.json(), resp.status_code == 201

    # ---- scheduling ----------------------------------------------------------------------

    def select_destinations(self, request_spec: Mapping[str, Any], *, return_alternates: bool = True,
                            dry_run: bool = False) -> Any:
        """POST /select_destinations: the result as ``ScheduleResult.to_dict()`` gives it."""
        body: dict[str, Any] = {"request_spec": dict(request_spec), "return_alternates": return_alternates}
        if dry_run:
            body["dry_run"] = True
        return self.request("POST", "/select_destinations", json=body)

    def capacity(self, params: Mapping[str, str] | Sequence[tuple[str, str]]) -> Any:
        """GET /capacity: how many instances of a flavor fit, in total and per group."""
        return self.request("GET", "/capacity", params=params)

    # ---- hosts ---------------------------------------------------------------------------

    def recent_decisions(self, *, limit: int | None = None, outcome: str | None = None) -> list[dict[str, Any]]:
        """GET /decisions: the answering worker's recent decisions, newest first."""
        params = {k: str(v) for k, v in (("limit", limit), ("outcome", outcome)) if v is not None}
        return list(self.request("GET", "/decisions", params=params)["decisions"])

    def register_host(self, name: str, provider_uuid: str, facts: Mapping[str, Any] | None = None) -> tuple[Host, bool]:
        body, created = self._created("PUT", f"/hosts/{_seg(name)}", {"provider_uuid": provider_uuid, **(facts or {})})
        return _host(body), created

    def put_host(self, name: str, provider_uuid: str, facts: Mapping[str, Any] | None = None) -> bool:
        """``register_host``'s created flag only (as ``Registry.put_host``)."""
        return self.register_host(name, provider_uuid, facts)[1]

    def get_host(self, name: str) -> Host:
        return _host(self.request("GET", f"/hosts/{_seg(name)}"))

    def list_hosts(self, *, cell: str | None = None) -> list[Host]:
        params = {"cell": cell} if cell is not None else None
        return [_host(h) for h in self.request("GET", "/hosts", params=params)["hosts"]]

    def heartbeat(self, name: str) -> None:
        self.request("POST", f"/hosts/{_seg(name)}/heartbeat")

    def set_host_status(self, name: str, *, disabled: bool | None = None, disabled_reason: Any = _UNSET,
                        forced_down: bool | None = None) -> Host:
        body: dict[str, Any] = {}
        if disabled is not None:
            body["disabled"] = disabled
        if disabled_reason is not _UNSET:
            body["disabled_reason"] = disabled_reason
        if forced_down is not None:
            body["forced_down"] = forced_down
        return _host(self.request("PUT", f"/hosts/{_seg(name)}/status", json=body))

    def delete_host(self, name: str) -> None:
        self.request("DELETE", f"/hosts/{_seg(name)}")

    # ---- aggregates ----------------------------------------------------------------------

    def create_aggregate(self, name: str, *, uuid: str | None = None,
                         metadata: Mapping[str, str] | None = None) -> Aggregate:
        body: dict[str, Any] = {"name": name}
        if uuid is not None:
            body["uuid"] = uuid
        if metadata:
            body["metadata"] = dict(metadata)
        return _aggregate(self.request("POST", "/aggregates", json=body))

    def get_aggregate(self, uuid: str) -> Aggregate:
        return _aggregate(self.request("GET", f"/aggregates/{_seg(uuid)}"))

    def list_aggregates(self) -> list[Aggregate]:
        return [_aggregate(a) for a in self.request("GET", "/aggregates")["aggregates"]]

    def rename_aggregate(self, uuid: str, name: str) -> Aggregate:
        return _aggregate(self.request("PUT", f"/aggregates/{_seg(uuid)}", json={"name": name}))

    def set_aggregate_metadata(self, uuid: str, updates: Mapping[str, str | None]) -> Aggregate:
        return _aggregate(self.request("POST", f"/aggregates/{_seg(uuid)}/metadata", json={"metadata": dict(updates)}))

    def add_aggregate_host(self, uuid: str, host: str) -> Aggregate:
        return _aggregate(self.request("PUT", f"/aggregates/{_seg(uuid)}/hosts/{_seg(host)}"))

    def remove_aggregate_host(self, uuid: str, host: str) -> Aggregate:
        return _aggregate(self.request("DELETE", f"/aggregates/{_seg(uuid)}/hosts/{_seg(host)}"))

    def delete_aggregate(self, uuid: str) -> None:
        self.request("DELETE", f"/aggregates/{_seg(uuid)}")

    # ---- server groups -------------------------------------------------------------------

    def create_group(self, name: str, policy: str, *, rules: Mapping[str, Any] | None = None,
                     project_id: str | None = None, user_id: str | None = None, uuid: str | None = None) -> Group:
        body: dict[str, Any] = {"name": name, "policy": policy}
        for key, value in (("rules", rules), ("project_id", project_id), ("user_id", user_id), ("uuid", uuid)):
            if value is not None:
                body[key] = value
        return _group(self.request("POST", "/server_groups", json=body))

    def get_group(self, uuid: str) -> Group:
        return _group(self.request("GET", f"/server_groups/{_seg(uuid)}"))

    def list_groups(self, *, project_id: str | None = None) -> list[Group]:
        params = {"project_id": project_id} if project_id is not None else None
        return [_group(g) for g in self.request("GET", "/server_groups", params=params)["server_groups"]]

    def delete_group(self, uuid: str) -> None:
        self.request("DELETE", f"/server_groups/{_seg(uuid)}")

    def add_group_member(self, group_uuid: str, instance_uuid: str, host: str) -> Group:
        path = f"/server_groups/{_seg(group_uuid)}/members/{_seg(instance_uuid)}"
        return _group(self.request("PUT", path, json={"host": host}))

    def remove_group_member(self, group_uuid: str, instance_uuid: str) -> None:
        self.request("DELETE", f"/server_groups/{_seg(group_uuid)}/members/{_seg(instance_uuid)}")

    # ---- instances -----------------------------------------------------------------------

    def record_instance(self, uuid: str, host: str | None = None, **fields: Any) -> tuple[Instance, bool]:
        body = {**fields, **({"host": host} if host is not None else {})}
        j, created = self._created("PUT", f"/instances/{_seg(uuid)}", body)
        return _instance(j), created

    def set_task_state(self, uuid: str, task_state: str | None) -> Instance:
        return self.record_instance(uuid, task_state=task_state)[0]

    def move_instance(self, uuid: str, host: str) -> Instance:
        return self.record_instance(uuid, host)[0]

    def get_instance(self, uuid: str) -> Instance:
        return _instance(self.request("GET", f"/instances/{_seg(uuid)}"))

    def list_instances(self, *, host: str | None = None) -> list[Instance]:
        params = {"host": host} if host is not None else None
        return [_instance(i) for i in self.request("GET", "/instances", params=params)["instances"]]

    def remove_instance(self, uuid: str) -> None:
        self.request("DELETE", f"/instances/{_seg(uuid)}")


def connect(url: str, *, timeout: float = 30.0, retries: int = 3) -> SchedulerClient:
    """A client for a scheduler API at ``url`` (keep-alive; connection errors retried ``retries`` times)."""
    http = httpx.Client(base_url=url.rstrip("/"), headers={"accept": "application/json"}, timeout=timeout,
                        transport=httpx.HTTPTransport(retries=retries))
    return SchedulerClient(http)


@contextlib.contextmanager
def direct(db_url: str, *, service_down_time: float = 60) -> Iterator[SchedulerClient]:
    """The complete scheduler API in-process over ``db_url`` (schema created or upgraded first)."""
    from allotment.scheduler.api.app import create_app
    from allotment.scheduler.registry import Registry

    registry = Registry.open(db_url, service_down_time=service_down_time)
    try:
        http = httpx.Client(base_url="http://scheduler.direct", transport=httpx.WSGITransport(app=create_app(registry)),
                            headers={"accept": "application/json"})
        with SchedulerClient(http) as client:
            yield client
    finally:
        registry.close()
