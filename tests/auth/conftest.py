"""One real Keystone for the session, with users in two projects, and allotment's services behind it."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from allotment.bench.servers import RunningServer, allotment_server, free_port
from tests.auth.keystone_server import ADMIN_PASSWORD, Keystone, keystone_server, keystone_venv_or_skip

PASSWORD = "user-secret"
SERVICE_PASSWORD = "placement-secret"


@dataclass
class Cloud:
    """Keystone and who is in it: ``admin`` (admin of project ``admin``, of the system and of the Default domain),
    ``member-a``/``reader-a`` in project ``alpha``, ``member-b`` in ``beta``, ``auditor`` (system
    reader) and ``placement``, the service user (role ``service`` in project ``service``)."""

    keystone: Keystone
    projects: dict[str, str]
    users: dict[str, str]

    def token(self, user: str, project: str | None = None, *, system: bool = False, domain: str | None = None) -> str:
        if user == "admin":
            return self.keystone.token(user, ADMIN_PASSWORD, project=project or "admin", system=system, domain=domain)
        password = SERVICE_PASSWORD if user == "placement" else PASSWORD
        return self.keystone.token(user, password, project=project, system=system)

    def authtoken_toml(self) -> str:
        """The ``[keystone_authtoken]`` table as an operator writes it for allotment."""
        url = self.keystone.url
        return (
            "[keystone_authtoken]\n"
            f'www_authenticate_uri = "{url}"\n'
            f'auth_url = "{url}"\n'
            'auth_type = "password"\n'
            'username = "placement"\n'
            f'password = "{SERVICE_PASSWORD}"\n'
            'project_name = "service"\n'
            'user_domain_name = "Default"\n'
            'project_domain_name = "Default"\n'
            # No token cache, so a revoked token is refused at once (the default caches 300 s).
            "token_cache_time = -1\n"
        )


def _populate(ks: Keystone) -> Cloud:
    roles = {r["name"] for r in ks.admin_call("GET", "/roles")["roles"]}  # type: ignore[union-attr]
    if "service" not in roles:
        ks.admin_call("POST", "/roles", {"role": {"name": "service"}})
    projects = {name: ks.create_project(name) for name in ("alpha", "beta", "service")}
    projects["admin"] = ks.id_of("project", "admin")
    users = {
        "member-a": ks.create_user("member-a", PASSWORD, project="alpha", role="member"),
        "reader-a": ks.create_user("reader-a", PASSWORD, project="alpha", role="reader"),
        "member-b": ks.create_user("member-b", PASSWORD, project="beta", role="member"),
        "placement": ks.create_user("placement", SERVICE_PASSWORD, project="service", role="service"),
        "auditor": ks.create_user("auditor", PASSWORD, project="alpha", role="reader"),
        "admin": ks.id_of("user", "admin"),
    }
    ks.admin_call("PUT", f"/system/users/{users['auditor']}/roles/{ks.id_of('role', 'reader')}")
    ks.admin_call("PUT", f"/domains/default/users/{users['admin']}/roles/{ks.id_of('role', 'admin')}")
    return Cloud(ks, projects, users)


@pytest.fixture(scope="session")
def cloud() -> Iterator[Cloud]:
    venv = keystone_venv_or_skip()
    with keystone_server(venv) as ks:
        yield _populate(ks)


@pytest.fixture(scope="session")
def placement(cloud: Cloud) -> Iterator[RunningServer]:
    """A real ``allotment serve`` configured for Keystone."""
    config = '[auth]\nstrategy = "keystone"\n\n' + cloud.authtoken_toml()
    with allotment_server(config_text=config) as srv:
        yield srv


@pytest.fixture(scope="session")
def scheduler(cloud: Cloud, placement: RunningServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real ``allotment scheduler serve`` behind Keystone, calling the placement server behind it too."""
    work = tmp_path_factory.mktemp("scheduler")
    conf = work / "scheduler.toml"
    conf.write_text(
        "[scheduler]\n"
        'auth_strategy = "keystone"\n'
        'placement_auth = "keystone"\n'
        f'db_url = "sqlite:///{work / "registry.sqlite"}"\n'
        f'placement_url = "{placement.url}"\n\n' + cloud.authtoken_toml()
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = work / "serve.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALLOTMENT_")}
    with log.open("wb") as logf:
        proc = subprocess.Popen(
            [sys.executable, "-m", "allotment", "scheduler", "serve", "--config", str(conf), "--port", str(port),
             "--workers", "1"], stdout=logf, stderr=subprocess.STDOUT, env=env, cwd=work)
        try:
            _wait(url, proc, log)
            yield url
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def _wait(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while True:
        assert proc.poll() is None, log.read_text()
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{url}/", timeout=2).status_code == 200:
                return
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.2)
