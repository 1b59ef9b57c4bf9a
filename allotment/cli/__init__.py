"""The allotment command line."""
