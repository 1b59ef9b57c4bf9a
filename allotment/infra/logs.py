"""Process-wide logging set-up for the services (one line per record, with the process id)."""

from __future__ import annotations

import logging
import sys

__all__ = ["LOG_FORMAT", "configure_logging"]

# The process id tells gunicorn workers apart.
LOG_FORMAT = "%(asctime)s %(process)d %(levelname)s %(name)s %(message)s"


def configure_logging(level: str) -> None:
    """Log records of ``level`` (``debug``, ``info``, ...) and up to stderr."""
    logging.basicConfig(level=level.upper(), stream=sys.stderr, format=LOG_FORMAT)
