"""Allocation candidates: the in-memory read model, the parsed request and the search.

``model`` holds one worker's picture of the provider graph and keeps it fresh from
the ``placement_changes`` log; ``request`` turns a GET /allocation_candidates query
into request groups and request-wide parameters; ``engine`` finds the allocation
requests and provider summaries upstream Placement would answer.
"""
