"""Allocation candidates: the in-memory read model, the parsed request and the search.

``model`` holds one worker's picture of the provider graph and keeps it fresh from
the ``placement_changes`` log; ``request`` holds a query as request groups and
request-wide parameters (``api.candidates_query`` parses it); ``engine`` finds the
allocation requests and provider summaries upstream Placement would answer, with
``sets`` (index-set algebra), ``planner`` (per-group plans and the slot layout),
``backtrack`` (the search at one anchor), ``results`` and ``errors``.
This package never imports ``api``: it raises ``errors.CandidatesError`` and the API
maps it to an HTTP answer.
"""
