"""Storage: SQLAlchemy Core tables and Alembic migrations (engines come from ``allotment.infra``)."""
