"""The scheduler: a RequestSpec in, claimed hosts plus alternates out.

``service.Scheduler`` is the entry point, ``cycle`` the phases of one request, ``errors``
every exception with its HTTP status and code, ``factory`` the service built from its
configuration. It reaches placement only through typed ``allotment.client`` methods (HTTP or
direct); tests/test_architecture.py checks that nothing here imports ``allotment.placement``
or makes raw HTTP calls, and that only ``registry`` touches the registry's tables.
"""
