"""allotment: resource placement and scheduling for clouds and clusters."""

__version__ = "0.1.0"
