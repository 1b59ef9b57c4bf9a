"""JSON schemas for request bodies and query strings, one module per noun.

Each schema is named for the microversion that introduced it and built as a copy
of its predecessor plus a delta; an older schema is never edited.
"""
