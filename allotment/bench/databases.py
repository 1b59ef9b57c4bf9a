"""Fresh, throw-away databases on the backends allotment supports.

The PostgreSQL and MariaDB servers are addressed by environment variables with
defaults matching a developer machine (trust auth / passwordless root):
``ALLOTMENT_PG_URL`` and ``ALLOTMENT_MYSQL_URL`` point at an existing
database used only to issue ``CREATE DATABASE``.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import uuid
from collections.abc import Iterator

import sqlalchemy as sa

__all__ = ["BACKENDS", "admin_url", "backend_available", "fresh_database"]

BACKENDS = ("sqlite", "postgresql", "mysql")

_DEFAULT_ADMIN = {
    "postgresql": "postgresql+psycopg://postgres@127.0.0.1:5432/test",
    "mysql": "mysql+pymysql://root@127.0.0.1:3306/test",
}
_ENV = {"postgresql": "ALLOTMENT_PG_URL", "mysql": "ALLOTMENT_MYSQL_URL"}


def admin_url(backend: str) -> str:
    return os.environ.get(_ENV[backend], _DEFAULT_ADMIN[backend])


def backend_available(backend: str) -> tuple[bool, str]:
    """(True, "") when the backend's server answers, else (False, reason)."""
    if backend == "sqlite":
        return True, ""
    url = admin_url(backend)
    try:
        engine = sa.create_engine(url, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        engine.dispose()
        return True, ""
    except Exception as exc:  # any driver error means "not usable here"
        return False, f"{backend} server at {url} not reachable: {type(exc).__name__}: {exc}".splitlines()[0]


@contextlib.contextmanager
def fresh_database(backend: str = "sqlite") -> Iterator[str]:
    """Yield the SQLAlchemy URL of a new empty database; drop it afterwards."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="allotment-db-") as tmp:
            yield f"sqlite:///{tmp}/allotment.sqlite"
        return
    name = f"allot_{uuid.uuid4().hex[:12]}"
    admin = sa.engine.make_url(admin_url(backend))
    engine = sa.create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        if backend == "mysql":
            conn.execute(sa.text(f"CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"))
        else:
            conn.execute(sa.text(f"CREATE DATABASE {name}"))
    try:
        yield admin.set(database=name).render_as_string(hide_password=False)
    finally:
        with engine.connect() as conn:
            if backend == "postgresql":
                conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            else:
                conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name}"))
        engine.dispose()
