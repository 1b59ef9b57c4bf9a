"""What a candidates search raises: unknown names (the API answers 400), and an empty answer found early."""

from __future__ import annotations

__all__ = ["CandidatesError", "EmptyAnswer", "NoSuchResourceClass", "NoSuchTrait"]


class CandidatesError(Exception):
    """A request the search cannot answer; the API maps each kind to its HTTP answer."""


class NoSuchResourceClass(CandidatesError):
    def __init__(self, name: str) -> None:
        super().__init__(f"No such resource class {name}.")
        self.name = name


class NoSuchTrait(CandidatesError):
    def __init__(self, name: str) -> None:
        super().__init__(f"No such trait(s): {name}.")
        self.name = name


class EmptyAnswer(Exception):
    """Some group cannot be satisfied: the answer is empty (internal to the search)."""
