"""Calling a placement that sits behind Keystone: a token for a service user, renewed as it expires.

A password authentication against Keystone's v3 API (what keystoneauth's ``password``
plugin does), with httpx only: the token is cached until shortly before its expiry, and
a 401 from placement (the token was revoked) fetches a new one once.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Generator, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

__all__ = ["KeystonePassword"]

# Renew this long before the token's expiry, so a request never leaves with a token about to lapse.
_MARGIN = dt.timedelta(seconds=60)


@dataclass(frozen=True)
class _Credentials:
    auth_url: str
    username: str
    password: str
    project_name: str
    user_domain_name: str = "Default"
    project_domain_name: str = "Default"


class KeystonePassword(httpx.Auth):
    """``X-Auth-Token`` from Keystone for a user and project given by name."""

    def __init__(self, auth_url: str, username: str, password: str, project_name: str, *,
                 user_domain_name: str = "Default", project_domain_name: str = "Default",
                 timeout: float = 30.0) -> None:
        self._creds = _Credentials(auth_url, username, password, project_name, user_domain_name, project_domain_name)
        self._timeout = timeout
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires = dt.datetime.min.replace(tzinfo=dt.UTC)

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> KeystonePassword:
        """From a ``[keystone_authtoken]``-style table (``auth_url``, ``username``, ``password``, ...)."""
        missing = [k for k in ("auth_url", "username", "password", "project_name") if not options.get(k)]
        if missing:
            raise ValueError(f"Keystone credentials need {', '.join(missing)}")
        return cls(str(options["auth_url"]), str(options["username"]), str(options["password"]),
                   str(options["project_name"]),
                   user_domain_name=str(options.get("user_domain_name", "Default")),
                   project_domain_name=str(options.get("project_domain_name", "Default")))

    def token(self, *, renew: bool = False) -> str:
        with self._lock:
            if renew or self._token is None or dt.datetime.now(dt.UTC) >= self._expires - _MARGIN:
                self._token, self._expires = self._issue()
            return self._token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        sent = self.token()
        request.headers["x-auth-token"] = sent
        response = yield request
        if response.status_code == 401:
            fresh = self.token(renew=self._token == sent)  # another thread may have renewed it already
            request.headers["x-auth-token"] = fresh
            yield request

    def _issue(self) -> tuple[str, dt.datetime]:
        c = self._creds
        base = c.auth_url.rstrip("/")
        url = (base if base.endswith("/v3") else base + "/v3") + "/auth/tokens"
        body = {"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": c.username, "domain": {"name": c.user_domain_name}, "password": c.password}}},
            "scope": {"project": {"name": c.project_name, "domain": {"name": c.project_domain_name}}},
        }}
        resp = httpx.post(url, json=body, timeout=self._timeout)
        resp.raise_for_status()
        expires = dt.datetime.fromisoformat(resp.json()["token"]["expires_at"])
        return resp.headers["x-subject-token"], expires
