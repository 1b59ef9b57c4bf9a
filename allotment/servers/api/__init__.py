"""The compute API (REST, Falcon): ``create_app(api)`` over a ``ComputeAPI``."""

from allotment.servers.api.app import create_app

__all__ = ["create_app"]
