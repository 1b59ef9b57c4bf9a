"""Domain operations: every placement rule, once, over a SQLAlchemy connection.

Functions here take a ``Connection`` already inside a transaction (see
``allotment.infra.database.Database``), raise ``DomainError`` subclasses, and know nothing of HTTP.
"""
