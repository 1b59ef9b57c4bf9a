"""Stand-in for the upstream placement package: see osc_shim/README."""
