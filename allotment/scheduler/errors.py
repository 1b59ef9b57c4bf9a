"""Every scheduler exception, and ``KINDS``: the one table of their HTTP status and dotted code.

The REST API answers with ``answer_for(exc)``; the CLI prints ``label`` and the exception's
``reason``; the service client turns an error answer back into the exception with
``from_answer(status, code, detail)``. A new exception gets its row here and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "KINDS",
    "PLACEMENT_FAILED",
    "PLACEMENT_UNREACHABLE",
    "Answer",
    "Conflict",
    "ConsumerInUse",
    "FilterError",
    "GroupPolicyViolation",
    "InvalidInput",
    "InvalidRequestSpec",
    "Kind",
    "MigrationNotFound",
    "MoveError",
    "NoSuchHost",
    "NoValidHost",
    "NotFound",
    "PlacementQueryError",
    "PlacementSyncError",
    "ProviderNotFound",
    "RegistryError",
    "RequestFilterFailed",
    "SchedulerError",
    "ServerError",
    "SyncConflict",
    "TopologyClaimFailed",
    "answer_for",
    "from_answer",
    "kind_of",
]


class SchedulerError(Exception):
    """Base of every scheduler exception: ``detail`` is the message an answer carries.

    ``code`` comes from ``KINDS``; an exception rebuilt from an answer keeps the code the
    answer gave when that is more specific than its class's.
    """

    def __init__(self, detail: str, code: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self._code = code

    @property
    def code(self) -> str:
        return self._code or kind_of(type(self)).code

    @property
    def reason(self) -> str:
        """What the CLI prints after the kind's label."""
        return self.detail


# ---- requests ---------------------------------------------------------------------------------


class InvalidRequestSpec(SchedulerError, ValueError):
    """A RequestSpec (or the data it is read from) is malformed; the message names the field."""


class PlacementQueryError(InvalidRequestSpec):
    """The spec cannot be written as a query placement would accept (the message says why)."""


class FilterError(InvalidRequestSpec):
    """A request the filter cannot evaluate: a malformed JsonFilter query, extra spec or version predicate."""


class NoValidHost(SchedulerError):
    """No host (or not enough hosts) for the request; ``reason`` says which filter removed how many hosts."""

    PREFIX = "No valid host was found."

    def __init__(self, reason: str, code: str | None = None) -> None:
        super().__init__(f"{self.PREFIX} {reason}".strip(), code)
        self._reason = reason
        # What ruled the hosts out, structured (allotment.scheduler.cycle.explain); None when not built.
        self.explanation: dict[str, Any] | None = None

    @property
    def reason(self) -> str:
        return self._reason

    @classmethod
    def from_detail(cls, detail: str, code: str | None = None) -> NoValidHost:
        """The exception whose ``detail`` (as an answer carried it) is ``detail``."""
        return cls(detail.removeprefix(cls.PREFIX).strip(), code)


class RequestFilterFailed(NoValidHost):
    """A request filter found that no host can satisfy the spec; the reason says why."""


class NoSuchHost(NoValidHost, LookupError):
    """A forced or requested destination host is unknown: no host can be valid for the spec."""

    def __init__(self, host: str, code: str | None = None) -> None:
        super().__init__(f"no such host: {host}", code)
        self.host = host


class ConsumerInUse(SchedulerError):
    """An instance uuid of a new request already holds allocations in placement (a move goes through move)."""


# ---- moves ------------------------------------------------------------------------------------


class MoveError(SchedulerError):
    """The move cannot start or finish in the state placement is in (reported as a 409)."""


class MigrationNotFound(MoveError):
    """The migration consumer holds no allocations: unknown, or already confirmed or reverted."""


# ---- the registry -----------------------------------------------------------------------------


class RegistryError(SchedulerError):
    """The host registry refused or failed a call."""


class NotFound(RegistryError):
    pass


class Conflict(RegistryError):
    """A name or uuid already taken, or a state the change is not allowed from."""


class GroupPolicyViolation(Conflict):
    """Adding the member would break its server group's affinity or anti-affinity policy."""


class InvalidInput(RegistryError):
    pass


class TopologyClaimFailed(Conflict):
    """The instance does not fit the host's NUMA/PCI topology any more (taken meanwhile), or the host has none."""


class ServerError(RegistryError):
    """The service answered 5xx (or something that is not an API error)."""

    def __init__(self, status: int, detail: str, code: str | None = None) -> None:
        super().__init__(f"{status}: {detail}", code)
        self.status = status


# ---- keeping placement in step with the registry -------------------------------------------------


class PlacementSyncError(SchedulerError):
    """Placement could not be brought in step; ``detail`` says why."""


class ProviderNotFound(PlacementSyncError):
    """The host's root provider does not exist in placement."""


class SyncConflict(PlacementSyncError):
    """The provider kept changing under us; every attempt lost its generation race."""


# ---- the table --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Kind:
    status: int
    code: str
    label: str | None = None  # what the CLI prints before the reason ("no valid host: ...")


# Most specific first is not needed: kind_of walks the class's MRO.
KINDS: dict[type[SchedulerError], Kind] = {
    SchedulerError: Kind(500, "scheduler.error"),
    InvalidRequestSpec: Kind(400, "scheduler.invalid_request_spec", "invalid request"),
    NoValidHost: Kind(409, "scheduler.no_valid_host", "no valid host"),
    ConsumerInUse: Kind(409, "scheduler.instance_in_use", "invalid request"),
    MoveError: Kind(409, "scheduler.migration_conflict"),
    MigrationNotFound: Kind(404, "scheduler.migration_not_found"),
    RegistryError: Kind(500, "scheduler.error"),
    NotFound: Kind(404, "scheduler.not_found"),
    Conflict: Kind(409, "scheduler.conflict"),
    GroupPolicyViolation: Kind(409, "scheduler.server_group.policy_violation"),
    TopologyClaimFailed: Kind(409, "scheduler.topology.claim_failed"),
    InvalidInput: Kind(400, "scheduler.bad_request"),
    PlacementSyncError: Kind(502, "scheduler.placement_sync_failed"),
}

# Placement failing under a scheduling call: it answered with an error, or could not be reached.
PLACEMENT_FAILED = Kind(502, "scheduler.placement_error")
PLACEMENT_UNREACHABLE = Kind(503, "scheduler.placement_unavailable")

# An error answer's code -> the exception to raise for it (the first class listed for a code).
_BY_CODE: dict[str, type[SchedulerError]] = {}
for _cls, _kind in KINDS.items():
    _BY_CODE.setdefault(_kind.code, _cls)
# Codes of answers about the request that the registry's classes do not cover, by status.
_BY_STATUS: dict[int, type[RegistryError]] = {404: NotFound, 409: Conflict, 400: InvalidInput, 413: InvalidInput,
                                              415: InvalidInput}


def kind_of(cls: type[BaseException]) -> Kind:
    """The row of the nearest class in ``cls``'s MRO that has one."""
    for base in cls.__mro__:
        kind = KINDS.get(base)
        if kind is not None:
            return kind
    return KINDS[SchedulerError]


@dataclass(frozen=True)
class Answer:
    status: int
    code: str
    detail: str


def answer_for(exc: SchedulerError) -> Answer:
    """The API's error answer for ``exc``."""
    return Answer(kind_of(type(exc)).status, exc.code, exc.detail)


def from_answer(status: int, code: str | None, detail: str) -> SchedulerError:
    """The exception an error answer of the scheduler service stands for (a 5xx is a ServerError)."""
    cls = _BY_CODE.get(code or "")
    if cls is not None and cls not in (SchedulerError, RegistryError) and status < 500:
        if issubclass(cls, NoValidHost):
            return cls.from_detail(detail, code)
        return cls(detail, code)
    by_status = _BY_STATUS.get(status)
    if by_status is None:
        return ServerError(status, detail, code)
    return by_status(detail, code)
