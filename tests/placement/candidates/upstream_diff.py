"""Compare GET /allocation_candidates of allotment and upstream Placement on random graphs.

Not a pytest module (it starts both servers and takes minutes)::

    .venv/bin/python -m tests.placement.candidates.upstream_diff --scenarios 40 --queries 25

Each scenario (a random small provider graph, see ``scenarios``) is written through
the API into both servers, then random queries are sent to both and the answers
compared: status, error text, the set of allocation requests (with mappings) and
the provider summaries. Differences are printed with the query; exit status 1 if any.
"""

from __future__ import annotations

import argparse
import random
import sys
from typing import Any
from urllib.parse import urlencode

import httpx

from allotment.bench.servers import allotment_server, upstream_server

from .scenarios import RandomDraw, canonical_answer, gen_query, gen_scenario, load_scenario, unload_scenario

HEADERS = {"x-auth-token": "admin", "accept": "application/json"}


def _summaries(body: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for uuid, s in body["provider_summaries"].items():
        s = dict(s)
        if "traits" in s:
            s["traits"] = sorted(s["traits"])
        out[uuid] = s
    return out


def _quirk(
    params: list[tuple[str, str]], sharing: set[str], only_ours: frozenset[Any], only_theirs: frozenset[Any]
) -> str | None:
    """Name the upstream quirk that explains a difference, if one does.

    - "shared-arr mutation": with group_policy other than "none", upstream adds the amounts of
      several groups on one provider into the *shared* objects of the first group, so later
      candidates carry inflated amounts (and some are then dropped as over capacity).
    - "single sharing anchor": an unsuffixed allocation request made only of sharing providers
      is kept for one anchor only (the first in hash-set order), so upstream's answer is a
      subset of ours.
    """
    counts: dict[str, int] = {}
    policies = [v for k, v in params if k == "group_policy"]
    for key, value in params:
        if key.startswith("resources"):
            for item in value.split(","):
                rc = item.split(":")[0]
                counts[rc] = counts.get(rc, 0) + 1
    if (not policies or policies[0] != "none") and any(n > 1 for n in counts.values()):
        return "shared-arr mutation"
    if not only_theirs and all(
        all(rp in sharing for s, rps in mappings if s == "" for rp in rps) for _, mappings in only_ours
    ):
        return "single sharing anchor"
    return None


def compare(
    a: httpx.Response, b: httpx.Response, params: list[tuple[str, str]] | None = None, sharing: set[str] | None = None
) -> str | None:
    if a.status_code != b.status_code:
        return f"status {a.status_code} vs {b.status_code}: {a.text[:300]} | {b.text[:300]}"
    if a.status_code != 200:
        da = a.json()["errors"][0]["detail"]
        db = b.json()["errors"][0]["detail"]
        return None if da == db else f"error detail differs:\n  {da}\n  {db}"
    ja, jb = a.json(), b.json()
    ra, pa = canonical_answer(ja)
    rb, pb = canonical_answer(jb)
    if ra != rb:
        quirk = _quirk(params, sharing or set(), ra - rb, rb - ra) if params is not None else None
        if quirk:
            return f"QUIRK {quirk}"
        return (
            f"allocation requests differ: {len(ra)} vs {len(rb)}\n  only allotment: {sorted(map(str, ra - rb))[:3]}"
            f"\n  only upstream: {sorted(map(str, rb - ra))[:3]}"
        )
    if pa != pb:
        return f"summary providers differ: only allotment {sorted(pa - pb)}, only upstream {sorted(pb - pa)}"
    if _summaries(ja) != _summaries(jb):
        return "summary contents differ"
    return None


_MUTATIONS = (
    lambda ps, d: ps + [("required" + d.choice(_suffixes(ps)), "CUSTOM_NOPE")],
    lambda ps, d: ps + [("required" + d.choice(_suffixes(ps)), "!CUSTOM_NOPE")],
    lambda ps, d: [
        (k, "CUSTOM_NOPE_RC:1," + v) if k.startswith("resources") and d.chance(0.5) else (k, v) for k, v in ps
    ],
    lambda ps, d: ps + [("in_tree" + d.choice(_suffixes(ps)), "00000000-0000-0000-0000-000000000001")],
    lambda ps, d: ps + [("member_of" + d.choice(_suffixes(ps)), "00000000-0000-0000-0000-000000000002")],
    lambda ps, d: [(k, v) for k, v in ps if k != "group_policy"],
    lambda ps, d: ps + [("root_required", "CUSTOM_A"), ("root_required", "!CUSTOM_B")],
    lambda ps, d: ps + [("root_required", "CUSTOM_NOPE,!CUSTOM_A")],
    lambda ps, d: ps + [("same_subtree", d.choice(_suffixes(ps)) + ",")],
    lambda ps, d: ps + [("same_subtree", "_NOPE")],
    lambda ps, d: ps + [("required_W", "CUSTOM_A")],
    lambda ps, d: ps + [("member_of_W", "00000000-0000-0000-0000-000000000003")],
    lambda ps, d: [(k, v.replace(":1", ":0")) if k.startswith("resources") else (k, v) for k, v in ps],
    lambda ps, d: ps + [("required", "CUSTOM_A,!CUSTOM_A")],
    lambda ps, d: ps + [("limit", "0")],
    lambda ps, d: ps + [("group_policy", "bogus")],
    lambda ps, d: [(k, v) for k, v in ps if not k.startswith("resources")],
)


def _suffixes(params: list[tuple[str, str]]) -> list[str]:
    out = {""}
    for k, _ in params:
        for prefix in ("resources", "required", "member_of", "in_tree"):
            if k.startswith(prefix):
                out.add(k[len(prefix) :])
    return sorted(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scenarios", type=int, default=20)
    ap.add_argument("--queries", type=int, default=20)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--version", default="1.39")
    ap.add_argument("--errors", action="store_true", help="also send mutated (often invalid) queries")
    args = ap.parse_args(argv)
    version = tuple(int(x) for x in args.version.split("."))
    failures = 0
    total = 0
    quirks: dict[str, int] = {}
    with allotment_server() as ours, upstream_server() as theirs:
        with (
            httpx.Client(base_url=ours.url, headers=HEADERS, timeout=60) as ca,
            httpx.Client(base_url=theirs.url, headers=HEADERS, timeout=60) as cb,
        ):
            for n in range(args.scenarios):
                rng = random.Random(f"{args.seed}:{n}")
                d = RandomDraw(rng)
                scn = gen_scenario(d, salt=f"{args.seed}-{n}")
                sharing = {p.uuid for p in scn.providers if "MISC_SHARES_VIA_AGGREGATE" in p.traits}
                consumers = load_scenario(ca, scn)
                load_scenario(cb, scn)
                try:
                    for _ in range(args.queries):
                        q = gen_query(d, scn, version)
                        params = q.params()
                        mutated = args.errors and d.chance(0.3)
                        if mutated:
                            params = d.choice(_MUTATIONS)(params, d)
                        qs = urlencode(params)
                        hdr = {"openstack-api-version": f"placement {args.version}"}
                        ra = ca.get(f"/allocation_candidates?{qs}", headers=hdr)
                        rb = cb.get(f"/allocation_candidates?{qs}", headers=hdr)
                        total += 1
                        if mutated:
                            diff = compare(ra, rb, params, sharing)
                        elif q.limit and ra.status_code == rb.status_code == 200:
                            # Which candidates a limit keeps is arbitrary upstream: compare the counts
                            # here and the full answers below.
                            na, nb = len(ra.json()["allocation_requests"]), len(rb.json()["allocation_requests"])
                            q.limit = None
                            qs = urlencode(q.params())
                            fa = ca.get(f"/allocation_candidates?{qs}", headers=hdr)
                            fb = cb.get(f"/allocation_candidates?{qs}", headers=hdr)
                            diff = compare(fa, fb, q.params(), sharing)
                            if diff is None and na != nb:
                                diff = f"limited counts differ: {na} vs {nb}"
                        else:
                            diff = compare(ra, rb, params, sharing)
                        if diff and diff.startswith("QUIRK"):
                            quirks[diff] = quirks.get(diff, 0) + 1
                        elif diff:
                            failures += 1
                            print(f"--- scenario {n} query {qs}\n{diff}", flush=True)
                finally:
                    unload_scenario(ca, scn, consumers)
                    unload_scenario(cb, scn, consumers)
    print(f"{total} queries, {failures} differences, upstream quirks: {quirks}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
