"""Falcon resources of the scheduler API, one module per kind of thing."""
