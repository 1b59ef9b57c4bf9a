"""Storage: SQLAlchemy Core tables, the engine set-up per backend, and Alembic migrations."""
