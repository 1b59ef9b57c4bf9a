"""The HTTP face of placement: a small WSGI core, routes, handlers and schemas."""
