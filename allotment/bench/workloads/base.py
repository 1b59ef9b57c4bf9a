"""What a workload is: a named function over a running server, and the figures it yields."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["Context", "Figure", "Params", "Workload", "WorkloadResult"]


@dataclass(frozen=True)
class Figure:
    """One number a workload reports.

    ``better`` says which way is good ("lower" for times and memory, "higher"
    for rates) and so how the allotment/upstream ratio is formed; None marks an
    informational count (candidates returned, requests sent) that gets no ratio.
    ``agg`` says how repeats combine: the median, or the sum (for error counts,
    where any one is too many).
    """

    key: str
    unit: str
    better: Literal["lower", "higher"] | None = None
    agg: Literal["median", "sum"] = "median"
    label: str = ""
    #: Show in the markdown table even without a direction (counts that must be 0, candidate counts).
    show: bool = False


@dataclass(frozen=True)
class Params:
    """Knobs shared by all workloads (each reads the ones it needs)."""

    providers: int = 1000
    concurrency: int = 10
    seed: int = 1
    requests: int = 20  # sequential requests per `ac` variant (and per `nested` query)
    conc_requests: int = 500  # total requests of `ac-conc`
    claims: int = 200  # sequential claims of `claim`
    race_writers: int = 10  # concurrent writers of `race`
    race_claims: int = 50  # claims per writer of `race`
    trees: int = 100  # compute trees of `nested`
    explode_requests: int = 3  # requests per `explode` variant (fewer once one fails)
    explode_max_groups: int = 8  # `explode` variants with more VGPU groups than this are left out
    timeout: float = 120.0  # client timeout per request of `claim`, `race`, `nested` and `explode`
    transport: str = "inprocess://"  # how `boot`'s conductor and computes talk (or amqp://...: RabbitMQ)
    boot_processes: int = 0  # `boot` over RabbitMQ: worker processes, each a conductor and a share of the computes
    arrivals: int = 2000  # instances `simulate` plays onto the fleet


@dataclass
class Context:
    """What a workload gets: the server, the knobs, and state left by earlier workloads of the run."""

    url: str
    params: Params
    run_index: int = 0
    state: dict[str, Any] = field(default_factory=dict)
    #: The server's root process when the runner started it (for per-query memory); None for a URL.
    server_pid: int | None = None
    #: The run's database and worker count when the runner started the server (``cold`` starts another).
    db_url: str | None = None
    workers: int = 1


@dataclass
class WorkloadResult:
    figures: dict[str, float | int | None]
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Workload:
    name: str
    summary: str
    figures: tuple[Figure, ...] = ()
    run: Callable[[Context], WorkloadResult] | None = None
    #: Workloads that must have run earlier on the same server (run first as setup if not asked for).
    requires: tuple[str, ...] = ()
    #: The targets it runs against (empty: all). ``schedule`` is allotment's alone: upstream has no scheduler.
    targets: tuple[str, ...] = ()

    @property
    def ready(self) -> bool:
        return self.run is not None


#: Figures the runner adds to every workload: CPU spent by the server tree and by this client.
COMMON_FIGURES = (
    Figure("server_cpu_s", "s", "lower", label="server CPU"),
    Figure("client_cpu_s", "s", None, label="client CPU"),
)
