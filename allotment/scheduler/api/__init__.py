"""The scheduler's REST API (Falcon, WSGI): the host registry, and room for scheduling itself.

``allotment.scheduler.api.app:create_app(registry)`` builds the application; the routes
are listed in one place, ``routes.py``.
"""
