"""Domain operations: every placement rule, once, over a SQLAlchemy connection.

Functions here take a ``Connection`` already inside a transaction (see
``store.engine.Store``), raise ``DomainError`` subclasses, and know nothing of HTTP.
"""
