"""Benchmarks and the tooling to run allotment and upstream Placement side by side."""
