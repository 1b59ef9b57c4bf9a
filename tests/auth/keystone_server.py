"""A real Keystone for the auth tests: its own virtualenv, a SQLite database, gunicorn.

Keystone pins a dependency tree of its own (oslo.*, Flask, ...) that allotment does not
need, so it lives in ``.cache/keystone`` under the repository root
(``ALLOTMENT_KEYSTONE_VENV`` overrides), built on first use like the clients' virtualenv; a
stamp file records what was installed, so later runs reuse it without the network.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import getpass
import grp
import os
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from allotment.bench.servers import ensure_venv, free_port, repo_root

KEYSTONE_REQUIREMENTS = ("keystone==30.0.0", "gunicorn")
ADMIN_PASSWORD = "keystone-admin-secret"


def keystone_venv_path() -> Path:
    return Path(os.environ.get("ALLOTMENT_KEYSTONE_VENV", repo_root() / ".cache" / "keystone"))


def ensure_keystone_venv(path: Path | None = None) -> Path:
    """Create (once) the virtualenv holding Keystone and gunicorn; return it. Raises on failure."""
    return ensure_venv(path or keystone_venv_path(), KEYSTONE_REQUIREMENTS, quiet=True)


def keystone_venv_or_skip() -> Path:
    """Keystone's virtualenv; skip when it cannot be built (no index), but fail under CI."""
    try:
        return ensure_keystone_venv()
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        output = getattr(exc, "stderr", None) or ""
        lines = output.strip().splitlines() if isinstance(output, str) else []
        tail = [line for line in lines if line.startswith("ERROR")][-2:] or lines[-3:]
        reason = f"cannot build Keystone's virtualenv at {keystone_venv_path()}: {exc} {' | '.join(tail)}"
        if os.environ.get("CI"):
            pytest.fail(f"CI requires Keystone: {reason}")
        pytest.skip(reason)


def _conf(work: Path) -> str:
    return (
        "[DEFAULT]\n"
        "debug = False\n"
        "[database]\n"
        f"connection = sqlite:///{work / 'keystone.sqlite'}\n"
        "[token]\n"
        "provider = fernet\n"
        "expiration = 3600\n"
        "[fernet_tokens]\n"
        f"key_repository = {work / 'fernet-keys'}\n"
        "[fernet_receipts]\n"
        f"key_repository = {work / 'fernet-keys'}\n"
        "[credential]\n"
        f"key_repository = {work / 'credential-keys'}\n"
        "[cache]\n"
        "enabled = false\n"
        # The fewest bcrypt rounds Keystone allows: every password authentication pays them.
        "[identity]\n"
        "password_hash_rounds = 4\n"
    )


@dataclass
class Keystone:
    """A running Keystone and what the tests need of its API (as its admin)."""

    url: str  # the identity endpoint, ending in /v3
    process: subprocess.Popen[bytes]
    workdir: Path
    # No connection reuse: gunicorn closes idle ones after 2 s, and a request sent on one just as
    # it closes fails with "Server disconnected without sending a response".
    http: httpx.Client = field(default_factory=lambda: httpx.Client(
        timeout=30.0, limits=httpx.Limits(max_keepalive_connections=0)))
    _admin_token: str | None = None

    def token(self, user: str, password: str, *, project: str | None = None, system: bool = False,
              domain: str | None = None, app_credential: tuple[str, str] | None = None) -> str:
        """A token for ``user`` (a name in the Default domain), scoped to a project, a domain or the system."""
        if app_credential is not None:
            identity = {"methods": ["application_credential"],
                        "application_credential": {"id": app_credential[0], "secret": app_credential[1]}}
            body: dict[str, object] = {"auth": {"identity": identity}}
        else:
            identity = {"methods": ["password"], "password": {
                "user": {"name": user, "domain": {"id": "default"}, "password": password}}}
            scope: dict[str, object] = (
                {"system": {"all": True}} if system else {"domain": {"id": domain}} if domain else
                {"project": {"name": project, "domain": {"id": "default"}}})
            body = {"auth": {"identity": identity, "scope": scope}}
        resp = self.http.post(f"{self.url}/auth/tokens", json=body)
        resp.raise_for_status()
        return resp.headers["x-subject-token"]

    def admin_token(self) -> str:
        if self._admin_token is None:
            self._admin_token = self.token("admin", ADMIN_PASSWORD, project="admin")
        return self._admin_token

    def admin_call(self, method: str, path: str, json: object = None) -> dict[str, object]:
        resp = self.http.request(method, f"{self.url}{path}", json=json,
                                 headers={"x-auth-token": self.admin_token()})
        resp.raise_for_status()
        return resp.json() if resp.content else {}

    def id_of(self, kind: str, name: str) -> str:
        found = self.admin_call("GET", f"/{kind}s?name={name}")[f"{kind}s"]
        assert isinstance(found, list) and len(found) == 1, (kind, name, found)
        return str(found[0]["id"])

    def create_project(self, name: str) -> str:
        made = self.admin_call("POST", "/projects", {"project": {"name": name, "domain_id": "default"}})
        return str(made["project"]["id"])  # type: ignore[index]

    def create_user(self, name: str, password: str, *, project: str, role: str) -> str:
        made = self.admin_call("POST", "/users", {"user": {"name": name, "password": password, "domain_id": "default"}})
        user_id = str(made["user"]["id"])  # type: ignore[index]
        self.admin_call("PUT", f"/projects/{self.id_of('project', project)}/users/{user_id}/roles/{self.id_of('role', role)}")
        return user_id

    def revoke(self, token: str) -> None:
        resp = self.http.delete(f"{self.url}/auth/tokens",
                                headers={"x-auth-token": self.admin_token(), "x-subject-token": token})
        assert resp.status_code == 204, resp.text

    def short_lived_token(self, user_id: str, password: str, user: str, project: str, seconds: float) -> str:
        """A token that expires in ``seconds``: one issued for an application credential that does.

        Keystone caps a token's expiry at its application credential's, which saves waiting out
        the server-wide ``[token] expiration``.
        """
        own = self.token(user, password, project=project)
        expires = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds)
        made = self.http.post(f"{self.url}/users/{user_id}/application_credentials", headers={"x-auth-token": own},
                              json={"application_credential": {"name": f"short-{time.monotonic_ns()}",
                                                               "expires_at": expires.strftime("%Y-%m-%dT%H:%M:%S.%f")}})
        made.raise_for_status()
        cred = made.json()["application_credential"]
        return self.token(user, password, app_credential=(cred["id"], cred["secret"]))


def _manage(venv: Path, conf: Path, *args: str) -> None:
    subprocess.run([str(venv / "bin" / "keystone-manage"), "--config-file", str(conf), *args],
                   check=True, capture_output=True, text=True)


@contextlib.contextmanager
def keystone_server(venv: Path, *, ready_timeout: float = 120.0) -> Iterator[Keystone]:
    """Keystone on SQLite under gunicorn on a free port, bootstrapped with an ``admin`` user."""
    with tempfile.TemporaryDirectory(prefix="keystone-") as tmp:
        work = Path(tmp)
        conf = work / "keystone.conf"
        conf.write_text(_conf(work))
        port = free_port()
        url = f"http://127.0.0.1:{port}/v3"
        owner = ["--keystone-user", getpass.getuser(), "--keystone-group", grp.getgrgid(os.getgid()).gr_name]
        _manage(venv, conf, "db_sync")
        _manage(venv, conf, "fernet_setup", *owner)
        _manage(venv, conf, "credential_setup", *owner)
        _manage(venv, conf, "bootstrap", "--bootstrap-password", ADMIN_PASSWORD, "--bootstrap-username", "admin",
                "--bootstrap-project-name", "admin", "--bootstrap-role-name", "admin",
                "--bootstrap-service-name", "keystone", "--bootstrap-region-id", "RegionOne",
                "--bootstrap-public-url", url, "--bootstrap-internal-url", url)
        # Keystone parses the process's command line as its own options: gunicorn's are not.
        (work / "keystone_wsgi.py").write_text(
            "import sys\nsys.argv = sys.argv[:1]\nfrom keystone.wsgi.api import application  # noqa: E402,F401\n")
        log = work / "keystone.log"
        env = {**os.environ, "OS_KEYSTONE_CONFIG_FILES": str(conf), "PYTHONPATH": str(work)}
        with log.open("wb") as logf:
            proc = subprocess.Popen(
                [str(venv / "bin" / "gunicorn"), "-w", "1", "--threads", "4", "-b", f"127.0.0.1:{port}",
                 *_no_control_socket(venv), "keystone_wsgi:application"],
                stdout=logf, stderr=subprocess.STDOUT, cwd=work, env=env,
            )
            try:
                _wait_ready(url, proc, ready_timeout, log)
                keystone = Keystone(url=url, process=proc, workdir=work)
                with keystone.http:
                    yield keystone
            finally:
                proc.terminate()
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def _no_control_socket(venv: Path) -> list[str]:
    """Newer gunicorn opens a per-user control socket; parallel servers must not share it."""
    out = subprocess.run([str(venv / "bin" / "gunicorn"), "--help"], check=False, capture_output=True,
                         text=True).stdout
    return ["--no-control-socket"] if "--no-control-socket" in out else []


def _wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"keystone exited with {proc.returncode}:\n{log.read_text()[-4000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2.0).status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"keystone at {url} not ready after {timeout}s:\n{log.read_text()[-4000:]}")
