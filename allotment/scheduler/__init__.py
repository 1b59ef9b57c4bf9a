"""The scheduler: a RequestSpec in, claimed hosts plus alternates out.

It reaches placement only through ``allotment.client`` (HTTP or direct); a test checks
that nothing here imports ``allotment.placement``.
"""
