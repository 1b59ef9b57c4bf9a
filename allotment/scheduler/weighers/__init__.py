"""The weighers that ship with allotment (see the entry points in pyproject.toml); weighing.py combines them."""
