"""The scheduling cycle: one module per phase, ``state.CycleState`` carrying what they hand each other.

``run.run_cycle`` drives them: ``prefilter`` (server group, request filters), ``query``
(placement's allocation candidates), ``hosts`` (candidates to host states), ``select``
(host filters and weighers, per instance), ``claim`` (claim, record, roll back) and
``answer`` (selections and alternates).
"""
