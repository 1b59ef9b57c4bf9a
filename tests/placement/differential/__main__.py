"""On-demand runs: ``python -m tests.placement.differential --seeds 0-19 --requests 1000``."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from .allowlist import explain
from .runner import POLICIES, format_report, run_seed, servers


def _seeds(text: str) -> list[int]:
    out: list[int] = []
    for part in text.split(","):
        low, _, high = part.partition("-")
        out += list(range(int(low), int(high or low) + 1))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.placement.differential",
                                     description="Differential test of allotment against upstream Placement 16.0.0.")
    parser.add_argument("--seeds", default="0-2", help="seeds, e.g. 0-19 or 1,5,7 (default 0-2)")
    parser.add_argument("--requests", type=int, default=500, help="requests per seed (default 500)")
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "mysql"), default="sqlite")
    parser.add_argument("--policy", choices=POLICIES, default="legacy", help="policy defaults on both servers")
    parser.add_argument("--examples", type=int, default=2, help="examples printed per kind (default 2)")
    parser.add_argument("--json", metavar="FILE", help="write every difference to FILE")
    args = parser.parse_args(argv)
    results = []
    for seed in _seeds(args.seeds):
        with servers(args.backend, args.policy) as (up, al):
            result = run_seed(seed, args.requests, up.url, al.url)
        results.append(result)
        print(f"seed {seed}: {len(result.differences)} differences in {result.requests} requests "
              f"({result.seconds:.1f}s)", file=sys.stderr, flush=True)
    print(format_report(results, examples=args.examples, explain=explain), end="")
    if args.json:
        Path(args.json).write_text(json.dumps([d.__dict__ for r in results for d in r.differences], indent=1))
    return 1 if any(r.differences for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
