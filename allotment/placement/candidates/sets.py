"""Set algebra over the read model's index sets: unions, intersections, and lazy conjunctions."""

from __future__ import annotations

from collections.abc import Set as AbstractSet

__all__ = ["NONE", "Conj", "Ids", "conj_all", "intersect_all", "minus", "union"]

# Sets from the helpers below may be the model's own index sets: never change them in place.
Ids = AbstractSet[int]
NONE: frozenset[int] = frozenset()


def union(index: dict[str, set[int]], keys: frozenset[str] | set[str]) -> Ids:
    sets = [index[k] for k in keys if k in index]
    if not sets:
        return NONE
    if len(sets) == 1:
        return sets[0]
    return set().union(*sets)


def intersect_all(sets: list[Ids]) -> Ids:
    if not sets:
        return NONE
    sets = sorted(sets, key=len)
    out = sets[0]
    for other in sets[1:]:
        if not out:
            break
        out = out & other
    return out


def minus(a: Ids, b: Ids) -> Ids:
    return a - b if b else a


class Conj:
    """The ids in every one of ``terms`` and in none of ``excl``, decided lazily.

    Membership tests need no set algebra; ``materialize()`` intersects (in C) when
    the whole set is wanted. ``bound`` is an upper bound of its size.
    """

    __slots__ = ("_set", "excl", "terms")

    def __init__(self, terms: list[Ids], excl: list[Ids] | None = None) -> None:
        self.terms = sorted(terms, key=len)
        self.excl = [e for e in (excl or ()) if e]
        self._set: Ids | None = None
        if len(self.terms) == 1 and not self.excl:
            self._set = self.terms[0]

    def __contains__(self, x: object) -> bool:
        if self._set is not None:
            return x in self._set
        for t in self.terms:
            if x not in t:
                return False
        for e in self.excl:
            if x in e:
                return False
        return True

    @property
    def bound(self) -> int:
        return len(self._set) if self._set is not None else len(self.terms[0])

    def fast(self) -> Ids | Conj:
        """The materialized set when there is one (cheaper ``in``), else this."""
        return self._set if self._set is not None else self

    def materialize(self) -> Ids:
        if self._set is None:
            out = intersect_all(self.terms)
            for e in self.excl:
                if not out:
                    break
                out = out - e
            self._set = out
        return self._set

    def __and__(self, other: Ids) -> Ids:
        return self.materialize() & other

    def __rand__(self, other: Ids) -> Ids:
        return other & self.materialize()


def conj_all(conjs: list[Conj], extra: list[Ids]) -> Conj:
    terms = [t for c in conjs for t in ([c._set] if c._set is not None else c.terms)]
    excl = [e for c in conjs if c._set is None for e in c.excl]
    return Conj(terms + extra, excl)
