"""How every command reports a failure.

What a service refused (placement, the scheduler's registry, the scheduler) prints as
``error: <detail> (<code>)`` on stderr with exit status 1; a service that cannot be reached
or a database that cannot be opened as ``error: cannot ...``, also exit status 1; bad
options are click's usage errors, exit status 2.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, TypeGuard

import click

from allotment.cli.lazy import LazyGroup

if TYPE_CHECKING:
    from allotment.client import PlacementError

__all__ = ["CommandError", "ReportingGroup", "coded", "first_line", "is_placement_error", "is_transport_error",
           "placement_failure", "unreachable"]


class CommandError(click.ClickException):
    """A failure the user should read as ``error: ...`` on stderr, exit status 1."""

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


def coded(detail: str, code: str | None, status: int | None = None) -> CommandError:
    """``<detail> (<code>)``; ``(HTTP <status>)`` when the service gave no code."""
    if code:
        return CommandError(f"{detail} ({code})")
    return CommandError(f"{detail} (HTTP {status})" if status else detail)


def placement_failure(exc: PlacementError) -> str:
    """``<detail> (<code>)``: what placement said, with its error code."""
    # webob-style details are "<generic explanation>\n\n <the actual reason>": keep the reason.
    paragraphs = [" ".join(p.split()) for p in exc.detail.split("\n\n") if p.strip()]
    detail = paragraphs[-1] if paragraphs else f"HTTP {exc.status}"
    return coded(detail, exc.code, exc.status).format_message()


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (driver errors run on for pages), or its type."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def unreachable(service: str, where: str, exc: BaseException) -> CommandError:
    return CommandError(f"cannot reach {service} at {where}: {exc or type(exc).__name__}")


def is_transport_error(exc: BaseException) -> bool:
    """Whether ``exc`` is httpx failing to reach a server."""
    return _is_instance(exc, "httpx", "TransportError")


def is_placement_error(exc: BaseException) -> TypeGuard[PlacementError]:
    """Whether ``exc`` is placement's answer to a bad request (``allotment.client.PlacementError``)."""
    return _is_instance(exc, "allotment.client.errors", "PlacementError")


def _is_instance(exc: BaseException, module: str, name: str) -> bool:
    # An exception of a module that was never imported cannot be raised: looking the class
    # up in sys.modules keeps the error path from importing the HTTP client.
    loaded = sys.modules.get(module)
    return loaded is not None and isinstance(exc, getattr(loaded, name))


class ReportingGroup(LazyGroup):
    """A group whose commands' failures become :class:`CommandError` through :meth:`failure`."""

    def failure(self, ctx: click.Context, exc: Exception) -> CommandError | None:
        """The error to print for ``exc``, or None to let it through."""
        return None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise  # click's own: --help, usage errors, errors already worded
        except Exception as exc:
            reported = self.failure(ctx, exc)
            if reported is None:
                raise
            raise reported from exc
