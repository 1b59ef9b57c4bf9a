"""The placement connection a CLI command works with, opened on first use, and how its failures are reported.

Nothing here imports the placement client at module level: ``allotment --help`` and the
command-line parsing stay clear of httpx, and ``--db`` pulls in the placement application
only when a command first talks to placement.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import click

from allotment.cli.errors import (
    CommandError,
    ReportingGroup,
    first_line,
    is_placement_error,
    is_transport_error,
    placement_failure,
    unreachable,
)

if TYPE_CHECKING:
    from allotment.client import PlacementClient

__all__ = ["DEFAULT_MICROVERSION", "DEFAULT_URL", "CommandError", "PlacementGroup", "Session", "pass_session",
           "placement_failure", "version_tuple"]

DEFAULT_URL = "http://127.0.0.1:8778"
# allotment.client.DEFAULT_MICROVERSION, written out so that --help need not import the client
# (tests/cli/test_fast_start.py holds the two equal).
DEFAULT_MICROVERSION = "1.39"
_VERSION = re.compile(r"^(\d+)\.(\d+)$")


def version_tuple(value: str) -> tuple[int, int]:
    """``"1.14"`` as ``(1, 14)``; ``latest`` is the newest version the client knows."""
    match = _VERSION.match(DEFAULT_MICROVERSION if value == "latest" else value)
    if not match:
        raise ValueError(f"{value!r} is not a microversion (expected MAJOR.MINOR or 'latest')")
    return int(match[1]), int(match[2])


def hide_password(url: str) -> str:
    """A database URL fit for messages: its password starred out."""
    return re.sub(r"(//[^:/@]+:)[^@/]*@", r"\1***@", url)


@dataclass
class Session:
    """Global options of the ``allotment`` command; ``client`` connects when a command first needs it."""

    url: str = DEFAULT_URL
    db: str | None = None
    microversion: str = DEFAULT_MICROVERSION
    token: str = "admin"
    _stack: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)
    _client: PlacementClient | None = None

    @property
    def target(self) -> str:
        """Where requests go, for messages."""
        return f"database {hide_password(self.db)}" if self.db else self.url

    @property
    def client(self) -> PlacementClient:
        if self._client is None:
            if self.db:
                from allotment.client import direct

                try:
                    self._client = self._stack.enter_context(direct(self.db, microversion=self.microversion))
                except Exception as exc:  # any driver or URL error: the user needs the URL and the reason
                    raise CommandError(f"cannot open placement on {self.target}: {first_line(exc)}") from exc
            else:
                from allotment.client import connect

                self._client = self._stack.enter_context(
                    connect(self.url, token=self.token, microversion=self.microversion)
                )
        return self._client

    def at_least(self, version: str) -> bool:
        """Whether the requested microversion is ``version`` or newer."""
        return version_tuple(self.microversion) >= version_tuple(version)

    def close(self) -> None:
        self._stack.close()


pass_session = click.make_pass_decorator(Session, ensure=True)


class PlacementGroup(ReportingGroup):
    """A group of placement commands: placement's errors and an unreachable server become ``error: ...``."""

    def failure(self, ctx: click.Context, exc: Exception) -> CommandError | None:
        if is_placement_error(exc):
            return CommandError(placement_failure(exc))
        if is_transport_error(exc):
            session = ctx.find_object(Session)
            return unreachable("placement", session.target if session else "the placement URL", exc)
        return None
