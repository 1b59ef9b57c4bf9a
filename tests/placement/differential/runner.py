"""Start both servers on fresh databases, drive them with one seeded sequence, collect differences."""

from __future__ import annotations

import contextlib
import re
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from allotment.bench.databases import fresh_database
from allotment.bench.servers import RunningServer, allotment_server, upstream_server
from tests.conformance.fixtures import ServerSettings

from .comparer import compare, kind_of
from .generator import Call, Generator
from .model import Model
from .normaliser import UUID_RE, Answer, UuidPairs, normalise, reconcile

__all__ = ["Difference", "SeedResult", "format_report", "run_seed", "servers"]

POLICIES = ("legacy", "secure")
# Upstream's default already; said explicitly because `limit` answers are compared by count only.
UPSTREAM_EXTRA = "[placement]\nrandomize_allocation_candidates = false\n"


@dataclass
class Difference:
    seed: int
    index: int
    kind: str
    knock_on: bool
    request: str
    upstream: str
    allotment: str
    aspects: list[str]
    query: list[tuple[str, str]] = field(default_factory=list)
    bodies: tuple[Any, Any] = (None, None)  # the normalised bodies, upstream's then allotment's

    def format(self) -> str:
        tag = " (knock-on)" if self.knock_on else ""
        return (f"[seed {self.seed} #{self.index}] {self.kind}{tag}\n  request:   {self.request}\n"
                f"  differs:   {', '.join(self.aspects)}\n"
                f"  upstream:  {self.upstream[:900]}\n  allotment: {self.allotment[:900]}")


@dataclass
class SeedResult:
    seed: int
    requests: int = 0
    seconds: float = 0.0
    differences: list[Difference] = field(default_factory=list)


@contextlib.contextmanager
def servers(backend: str = "sqlite", policy: str = "legacy") -> Iterator[tuple[RunningServer, RunningServer]]:
    """Upstream and allotment, each on its own fresh database, with the same policy mode."""
    settings = ServerSettings(policy=policy)
    with tempfile.TemporaryDirectory(prefix="difftest-") as tmp, \
            fresh_database(backend) as up_db, fresh_database(backend) as al_db:
        work = Path(tmp)
        with upstream_server(up_db, extra_conf=settings.upstream_ini(work) + UPSTREAM_EXTRA) as up, \
                allotment_server(al_db, config_text=settings.allotment_toml(work)) as al:
            yield up, al


def _send(client: httpx.Client, call: Call, pairs: UuidPairs | None) -> httpx.Response:
    url, content = call.url(), call.content()
    if pairs is not None:
        url = pairs.for_allotment(url)
        if content is not None:
            content = pairs.for_allotment(content.decode("utf-8", "surrogatepass")).encode("utf-8", "surrogatepass")
    return client.request(call.method, url, headers=call.headers(), content=content)


def _location_uuid(resp: httpx.Response) -> str | None:
    found = UUID_RE.findall(resp.headers.get("location", ""))
    return found[-1] if found else None


def _mentions(text: str, uuids: set[str]) -> bool:
    return bool(uuids) and any(u in uuids for u in UUID_RE.findall(text))


def run_seed(seed: int, requests: int, upstream_url: str, allotment_url: str) -> SeedResult:
    """Send ``requests`` generated requests to both (fresh) servers; return the differences."""
    started = time.monotonic()
    model = Model()
    gen = Generator(seed, model)
    pairs = UuidPairs()
    result = SeedResult(seed)
    # Objects whose state may differ between the servers after a differing write: later
    # differences that mention them are knock-on effects, reported apart from root causes.
    tainted: set[str] = set()
    with httpx.Client(base_url=upstream_url, timeout=60.0, trust_env=False) as up_client, \
            httpx.Client(base_url=allotment_url, timeout=60.0, trust_env=False) as al_client:
        current: list[tuple[int, Call]] = []

        def check_state(path: str, up_resp: httpx.Response) -> None:
            """A state read after a write: allotment must hold the same (body and status)."""
            index, call = current[0]
            al_resp = al_client.get(pairs.for_allotment(path), headers=up_resp.request.headers)
            probe = Call("state", "GET", path)
            up, al = normalise(up_resp, probe), normalise(al_resp, probe, pairs)
            up.headers = al.headers = {}
            aspects = compare(up, al)
            if not aspects:
                return
            shape = re.sub(r"\?.*", "", UUID_RE.sub("{uuid}", path))
            kind = f"{call.op}: state after write: GET {shape}: " + kind_of(probe, up, al, aspects).split(": ", 1)[1]
            knock_on = _mentions(call.describe() + path + up_resp.text + al_resp.text, tainted)
            result.differences.append(Difference(seed, index, kind, knock_on, call.describe() + f" then GET {path}",
                                                 up.brief(6000), al.brief(6000), aspects, bodies=(up.body, al.body)))
            tainted.update(UUID_RE.findall(path))

        model.observer = check_state
        known: set[str] = set()  # every uuid a request named
        for index in range(requests):
            call = gen.next()
            current[:] = [(index, call)]
            up_resp = _send(up_client, call, None)
            al_resp = _send(al_client, call, pairs)
            if call.op == "create_provider" and up_resp.status_code in (200, 201) \
                    and al_resp.status_code in (200, 201):
                u, a = _location_uuid(up_resp), _location_uuid(al_resp)
                if u and a and u != a:
                    pairs.add(u, a)
                if u:
                    call.providers.add(u)
            known.update(UUID_RE.findall(call.url() + (call.content() or b"").decode("utf-8", "replace")))
            named = known | pairs.known()
            up, al = normalise(up_resp, call, known=named), normalise(al_resp, call, pairs, named)
            reconcile(up, al, call)
            aspects = compare(up, al)
            if aspects:
                text = call.describe() + up_resp.text + pairs.as_upstream(al_resp.text)
                knock_on = _mentions(text, tainted)
                result.differences.append(Difference(
                    seed, index, kind_of(call, up, al, aspects), knock_on, call.describe(),
                    up.brief(6000), al.brief(6000), aspects, list(call.query), (up.body, al.body)))
                if call.method != "GET":
                    tainted |= call.providers | call.consumers
            if call.method != "GET":
                _learn(model, up_client, call, up)
        result.requests = requests
    result.seconds = time.monotonic() - started
    return result


def _learn(model: Model, client: httpx.Client, call: Call, up: Answer) -> None:
    if call.everything:
        model.refresh_all(client)
        return
    if call.registry:
        model.refresh_registry(client)
    if call.providers or call.consumers:
        model.refresh(client, {p for p in call.providers if UUID_RE.fullmatch(p)},
                      {c for c in call.consumers if UUID_RE.fullmatch(c)})
    if call.op in ("put_inventories", "post_inventory", "put_inventory") and up.status < 300:
        model.refresh_registry(client)


def format_report(
    results: list[SeedResult], *, examples: int = 2, explain: Callable[[Difference], str | None] | None = None
) -> str:
    """Counts per kind (root causes, then knock-on effects), the rule explaining each, examples."""
    roots: Counter[str] = Counter()
    knock: Counter[str] = Counter()
    labels: dict[str, Counter[str]] = {}
    for r in results:
        for d in r.differences:
            (knock if d.knock_on else roots)[d.kind] += 1
            label = (explain(d) if explain else None) or "UNEXPLAINED"
            labels.setdefault(d.kind, Counter())[label] += 1
    unexplained = sum(1 for r in results for d in r.differences
                      if not d.knock_on and (not explain or explain(d) is None))
    total = sum(r.requests for r in results)
    head = (f"seeds: {[r.seed for r in results]}  requests: {total}  "
            f"differences: {sum(roots.values())} root ({unexplained} unexplained) + "
            f"{sum(knock.values())} knock-on  time: {sum(r.seconds for r in results):.1f}s")
    lines = [head]
    for title, counter in (("root-cause differences per kind", roots), ("knock-on differences per kind", knock)):
        if not counter:
            continue
        lines.append(f"{title}:")
        for kind, n in counter.most_common():
            why = ", ".join(f"{k} x{v}" if len(labels[kind]) > 1 else k for k, v in labels[kind].most_common())
            lines.append(f"  {n:>5}  {kind}   [{why}]")
    shown: Counter[str] = Counter()
    details = []
    for r in results:
        for d in r.differences:
            key = d.kind + ("/k" if d.knock_on else "")
            if shown[key] < (1 if d.knock_on else examples):
                shown[key] += 1
                details.append(d.format())
    if details:
        lines.append("examples:")
        lines += details
    return "\n".join(lines) + "\n"
