"""Start allotment or upstream OpenStack Placement as a real server process.

Used by the benchmark tool and by the conformance tests, so both measure the
same thing: a freshly started server on a fresh database, reached over HTTP.

Upstream Placement lives in its own virtualenv (``.cache/upstream`` under the
repository root by default) because its pinned dependencies are not ours; the
virtualenv also carries ``gabbi`` for running the upstream gabbit files.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

__all__ = [
    "UPSTREAM_REQUIREMENTS",
    "RunningServer",
    "allotment_server",
    "ensure_upstream_venv",
    "ensure_venv",
    "exclusive",
    "free_port",
    "repo_root",
    "scheduler_server",
    "upstream_server",
]

UPSTREAM_REQUIREMENTS = (
    "openstack-placement==16.0.0",
    "gunicorn",
    "gabbi",
    "psycopg2-binary",
    "PyMySQL",
)


def repo_root() -> Path:
    return Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ensure_venv(venv: Path, requirements: Sequence[str], *, quiet: bool = False) -> Path:
    """Create (once) a virtualenv at ``venv`` holding ``requirements``; return it. Raises on failure.

    A marker file records what was installed, so a changed requirement list rebuilds it.
    ``quiet`` captures pip's output (it is on the CalledProcessError) instead of printing it.
    """
    marker = venv / ".allotment-requirements"
    wanted = "\n".join(requirements)
    if marker.exists() and marker.read_text() == wanted:
        return venv
    # The test suite runs in several processes: the first builds, the others wait and reuse it.
    with exclusive(venv.with_name(venv.name + ".lock")):
        if marker.exists() and marker.read_text() == wanted:
            return venv
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=quiet)
        subprocess.run(
            [str(venv / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check", *requirements],
            check=True, capture_output=quiet, text=True, timeout=900,
        )
        marker.write_text(wanted)
    return venv


@contextlib.contextmanager
def exclusive(lock_file: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``lock_file`` (created if missing) across processes."""
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_file, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_upstream_venv(path: Path | None = None) -> Path:
    """Create (once) the virtualenv holding upstream Placement and gabbi; return it."""
    return ensure_venv(path or Path(os.environ.get("ALLOTMENT_UPSTREAM_VENV", repo_root() / ".cache" / "upstream")),
                       UPSTREAM_REQUIREMENTS)


@dataclass
class RunningServer:
    """A server process listening at ``url``."""

    url: str
    process: subprocess.Popen[bytes]
    name: str
    workdir: Path
    extra: dict[str, str] = field(default_factory=dict)

    def pids(self) -> list[int]:
        """The server process and its children (the workers)."""
        out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(self.process.pid)], capture_output=True, text=True)
        return [self.process.pid, *(int(p) for p in out.stdout.split())]


def _wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{log.read_text()[-4000:]}")
        try:
            if httpx.get(url + "/", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server at {url} not ready after {timeout}s:\n{log.read_text()[-4000:]}")


def _stop(process: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextlib.contextmanager
def _served(args: list[str], work: Path, port: int, name: str, env: dict[str, str] | None,
            ready_timeout: float) -> Iterator[RunningServer]:
    log = work / "server.log"
    with log.open("wb") as logf:
        proc = subprocess.Popen(args, stdout=logf, stderr=subprocess.STDOUT, cwd=work,
                                env={**os.environ, **(env or {})})
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_ready(url, proc, ready_timeout, log)
            yield RunningServer(url=url, process=proc, name=name, workdir=work)
        finally:
            _stop(proc)


@contextlib.contextmanager
def allotment_server(
    db_url: str | None = None,
    *,
    workers: int = 1,
    config_text: str | None = None,
    extra_args: Sequence[str] = (),
    env: dict[str, str] | None = None,
    ready_timeout: float = 60.0,
    port: int | None = None,
) -> Iterator[RunningServer]:
    """Run ``allotment serve`` on ``port`` (default: a free one); a fresh SQLite file unless ``db_url`` is given."""
    with tempfile.TemporaryDirectory(prefix="allotment-srv-") as tmp:
        work = Path(tmp)
        url_db = db_url or f"sqlite:///{work / 'allotment.sqlite'}"
        port = port or free_port()
        args = [sys.executable, "-m", "allotment", "serve", "--db", url_db, "--host", "127.0.0.1",
                "--port", str(port), "--workers", str(workers)]
        if config_text is not None:
            conf = work / "allotment.toml"
            conf.write_text(config_text)
            args += ["--config", str(conf)]
        args += list(extra_args)
        with _served(args, work, port, "allotment", env, ready_timeout) as server:
            yield server


@contextlib.contextmanager
def scheduler_server(
    db_url: str | None = None,
    *,
    placement_db: str | None = None,
    workers: int = 1,
    config_text: str | None = None,
    extra_args: Sequence[str] = (),
    ready_timeout: float = 60.0,
) -> Iterator[RunningServer]:
    """Run ``allotment scheduler serve`` on a free port, over placement in-process on ``placement_db``
    (default: the registry's database, a fresh SQLite file unless ``db_url`` is given)."""
    with tempfile.TemporaryDirectory(prefix="allotment-sched-") as tmp:
        work = Path(tmp)
        url_db = db_url or f"sqlite:///{work / 'allotment.sqlite'}"
        port = free_port()
        args = [sys.executable, "-m", "allotment", "scheduler", "serve", "--db", url_db,
                "--placement-db", placement_db or url_db, "--host", "127.0.0.1", "--port", str(port),
                "--workers", str(workers)]
        if config_text is not None:
            conf = work / "scheduler.toml"
            conf.write_text(config_text)
            args += ["--config", str(conf)]
        args += list(extra_args)
        with _served(args, work, port, "allotment-scheduler", None, ready_timeout) as server:
            yield server


def _gunicorn_no_control(venv: Path) -> list[str]:
    """Newer gunicorn opens a per-user control socket; parallel servers must not share it."""
    out = subprocess.run([str(venv / "bin" / "gunicorn"), "--help"], capture_output=True, text=True).stdout
    return ["--no-control-socket"] if "--no-control-socket" in out else []


def _upstream_conf(db_url: str, extra_conf: str) -> str:
    return (
        "[DEFAULT]\n"
        "debug = False\n"
        "[api]\n"
        "auth_strategy = noauth2\n"
        "[placement_database]\n"
        f"connection = {db_url}\n"
        f"{extra_conf}\n"
    )


def _upstream_db_url(db_url: str) -> str:
    # Upstream uses oslo.db drivers: psycopg2 and PyMySQL.
    if db_url.startswith("postgresql+psycopg:") or db_url.startswith("postgresql:"):
        return "postgresql+psycopg2:" + db_url.split(":", 1)[1]
    if db_url.startswith("mysql:") or db_url.startswith("mariadb"):
        return "mysql+pymysql:" + db_url.split(":", 1)[1]
    return db_url


@contextlib.contextmanager
def upstream_server(
    db_url: str | None = None,
    *,
    workers: int = 1,
    extra_conf: str = "",
    ready_timeout: float = 120.0,
) -> Iterator[RunningServer]:
    """Run upstream Placement 16.0.0 under gunicorn on a free port (fresh SQLite unless ``db_url``)."""
    venv = ensure_upstream_venv()
    with tempfile.TemporaryDirectory(prefix="upstream-srv-") as tmp:
        work = Path(tmp)
        url_db = _upstream_db_url(db_url or f"sqlite:///{work / 'placement.sqlite'}")
        (work / "placement.conf").write_text(_upstream_conf(url_db, extra_conf))
        env = {**os.environ, "OS_PLACEMENT_CONFIG_DIR": str(work)}
        subprocess.run([str(venv / "bin" / "placement-manage"), "--config-file", str(work / "placement.conf"),
                        "db", "sync"], check=True, env=env, capture_output=True)
        # Each upstream worker, as it boots, inserts the standard traits and resource classes that
        # `db sync` leaves out. Two workers doing that at once on a fresh SQLite file collide: one gets
        # "database is locked", fails to boot, and gunicorn halts ("Worker failed to boot", exit 3),
        # often just after the other worker has answered the readiness check. Loading the application
        # once here, in one process, does those inserts first; the workers then only read.
        subprocess.run([str(venv / "bin" / "python"), "-c", "import placement.wsgi.api"], check=True, env=env,
                       capture_output=True, cwd=work)
        port = free_port()
        log = work / "server.log"
        with log.open("wb") as logf:
            proc = subprocess.Popen(
                [str(venv / "bin" / "gunicorn"), "-w", str(workers), "-b", f"127.0.0.1:{port}",
                 *_gunicorn_no_control(venv), "placement.wsgi.api:application"],
                stdout=logf, stderr=subprocess.STDOUT, cwd=work, env=env,
            )
            url = f"http://127.0.0.1:{port}"
            try:
                _wait_ready(url, proc, ready_timeout, log)
                yield RunningServer(url=url, process=proc, name="upstream", workdir=work)
            finally:
                _stop(proc)
