"""``python -m allotment.bench``: the bench commands without the rest of the CLI."""

from allotment.bench.cli import bench

bench(prog_name="allotment bench")
