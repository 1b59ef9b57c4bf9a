"""The placement connection a CLI command works with, opened on first use, and how failures are reported."""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, field
from typing import Any

import click
import httpx

from allotment.client import DEFAULT_MICROVERSION, PlacementClient, PlacementError, connect, direct

__all__ = ["CommandError", "PlacementGroup", "Session", "pass_session", "placement_failure", "version_tuple"]

DEFAULT_URL = "http://127.0.0.1:8778"
_VERSION = re.compile(r"^(\d+)\.(\d+)$")


class CommandError(click.ClickException):
    """A failure the user should read as ``error: ...`` on stderr, exit status 1."""

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


def version_tuple(value: str) -> tuple[int, int]:
    """``"1.14"`` as ``(1, 14)``; ``latest`` is the newest version the client knows."""
    match = _VERSION.match(DEFAULT_MICROVERSION if value == "latest" else value)
    if not match:
        raise ValueError(f"{value!r} is not a microversion (expected MAJOR.MINOR or 'latest')")
    return int(match[1]), int(match[2])


def _hide_password(url: str) -> str:
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
        return f"database {_hide_password(self.db)}" if self.db else self.url

    @property
    def client(self) -> PlacementClient:
        if self._client is None:
            if self.db:
                try:
                    self._client = self._stack.enter_context(direct(self.db, microversion=self.microversion))
                except Exception as exc:  # any driver or URL error: the user needs the URL and the reason
                    reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                    raise CommandError(f"cannot open placement on {self.target}: {reason}") from exc
            else:
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


def placement_failure(exc: PlacementError) -> str:
    """``<detail> (<code>)``: what placement said, with its error code."""
    # webob-style details are "<generic explanation>\n\n <the actual reason>": keep the reason.
    paragraphs = [" ".join(p.split()) for p in exc.detail.split("\n\n") if p.strip()]
    detail = paragraphs[-1] if paragraphs else f"HTTP {exc.status}"
    return f"{detail} ({exc.code})" if exc.code else f"{detail} (HTTP {exc.status})"


class PlacementGroup(click.Group):
    """A group of placement commands: placement's errors and an unreachable server become ``error: ...``."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except PlacementError as exc:
            raise CommandError(placement_failure(exc)) from exc
        except httpx.TransportError as exc:
            session = ctx.find_object(Session)
            where = session.target if session else "the placement URL"
            raise CommandError(f"cannot reach placement at {where}: {exc or type(exc).__name__}") from exc
