"""Differential tester: upstream Placement 16.0.0 and allotment driven side by side.

Both servers start on fresh databases; a seeded generator sends the same random
requests (every route and method, microversions 1.0-1.39, valid and deliberately
bad) to both, learning the state from upstream's answers; every difference in
status, body or headers is reported, grouped by kind. On demand::

    .venv/bin/python -m tests.placement.differential --seeds 0-19 --requests 1000

``test_differential`` runs a few seeds in the test suite.
"""
