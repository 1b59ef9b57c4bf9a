"""Database URLs as users write them, turned into the SQLAlchemy form with the drivers we ship."""

from __future__ import annotations

__all__ = ["normalize_url"]

_DRIVERS = {
    "postgresql": "postgresql+psycopg",
    "postgres": "postgresql+psycopg",
    "mysql": "mysql+pymysql",
    "mariadb": "mysql+pymysql",
}


def normalize_url(url: str) -> str:
    """Bare ``postgresql://`` and ``mysql://`` (or ``mariadb://``) URLs get psycopg 3 and PyMySQL."""
    scheme, sep, rest = url.partition("://")
    driver = _DRIVERS.get(scheme)
    if sep and driver is not None:
        return f"{driver}://{rest}"
    return url
