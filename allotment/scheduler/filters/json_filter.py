"""JsonFilter: hosts matching the scheduler hint ``query``, a JSON expression in prefix form.

Grammar (every expression is a JSON list whose first element is the operator)::

    ["and", expr, ...]   ["or", expr, ...]   ["not", expr]
    ["=", a, b, ...]     a equals every other argument
    ["<", a, b, ...]  ["<=", ...]  [">", ...]  [">=", ...]   a compares so with every other argument
    ["in", a, b, ...]    a equals one of the other arguments

An argument is a nested expression, a number, a boolean, a literal string, or a host
lookup ``"$name"`` / ``"$name.key.key"`` (``$free_ram_mb``, ``$stats.gpu``,
``$cpu_info.arch``, ``$service.disabled``). A lookup that finds nothing makes the
comparison false. A number compared with a numeric string compares as numbers (stats
values are text). ``[]`` matches every host.

A query that breaks the grammar (bad JSON, unknown operator, wrong number of arguments, a
JSON object) raises FilterError, so the caller learns the query is wrong instead of
getting "no valid host".
"""

from __future__ import annotations

import json
import operator
from collections.abc import Callable
from typing import Any

from allotment.scheduler.config import SchedulerConfig
from allotment.scheduler.errors import FilterError
from allotment.scheduler.filters.host_lookup import lookup
from allotment.scheduler.host_state import HostState
from allotment.scheduler.plugins import HostFilter
from allotment.scheduler.spec import RequestSpec

__all__ = ["JsonFilter", "compile_query"]

_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq, "<": operator.lt, ">": operator.gt, "<=": operator.le, ">=": operator.ge,
}
_LOGIC = ("and", "or", "not")
OPERATORS = frozenset(_COMPARE) | {"in"} | frozenset(_LOGIC)

# An expression evaluated against one host.
Expr = Callable[[HostState], Any]


class JsonFilter(HostFilter):
    """Every ``query`` hint must hold for the host (usually there is one)."""

    _CACHE_SIZE = 64

    def __init__(self, config: SchedulerConfig) -> None:
        super().__init__(config)
        # The same query is evaluated against every host of the request: parse it once.
        self._compiled: dict[str, Expr] = {}

    def applies(self, spec: RequestSpec) -> bool:
        return bool(spec.scheduler_hints.get("query"))

    def host_passes(self, host: HostState, spec: RequestSpec) -> bool:
        return all(bool(expr(host)) for expr in self._queries(spec))

    def filter_all(self, hosts: list[HostState], spec: RequestSpec) -> list[HostState]:
        queries = self._queries(spec)
        if not queries:
            return list(hosts)
        return [h for h in hosts if all(bool(expr(h)) for expr in queries)]

    def _queries(self, spec: RequestSpec) -> list[Expr]:
        raw = spec.scheduler_hints.get("query") or []
        texts = [raw] if isinstance(raw, str) else raw
        found = []
        for text in texts:
            expr = self._compiled.get(text)
            if expr is None:
                expr = compile_query(text)
                if len(self._compiled) >= self._CACHE_SIZE:
                    self._compiled.clear()
                self._compiled[text] = expr
            found.append(expr)
        return found


def compile_query(text: str) -> Expr:
    """Parse and check a query once; the result evaluates it against a host."""
    try:
        tree = json.loads(text)
    except (TypeError, ValueError) as e:
        raise FilterError(f"JsonFilter query is not valid JSON: {e}: {text!r}") from None
    if not isinstance(tree, list):
        raise FilterError(f"JsonFilter query must be a JSON list such as [\">=\", \"$free_ram_mb\", 1024]: {text!r}")
    return _compile(tree)


def _compile(tree: list[Any]) -> Expr:
    if not tree:
        return lambda host: True
    op, raw_args = tree[0], tree[1:]
    if not isinstance(op, str) or op not in OPERATORS:
        raise FilterError(f"JsonFilter: unknown operator {op!r}; known: {', '.join(sorted(OPERATORS))}")
    args = [_compile_arg(a) for a in raw_args]

    if op == "not":
        if len(args) != 1:
            raise FilterError(f"JsonFilter: 'not' takes one argument, got {len(args)}")
        (inner,) = args
        return lambda host: not inner(host)
    if op == "and":
        return lambda host: all(a(host) for a in args)
    if op == "or":
        return lambda host: any(a(host) for a in args)

    if len(args) < 2:
        raise FilterError(f"JsonFilter: {op!r} needs at least two arguments, got {len(args)}")
    first, rest = args[0], args[1:]
    if op == "in":
        return lambda host: _is_in(first(host), [r(host) for r in rest])
    compare = _COMPARE[op]
    return lambda host: _compare_all(compare, first(host), [r(host) for r in rest])


def _compile_arg(arg: Any) -> Expr:
    if isinstance(arg, list):
        return _compile(arg)
    if isinstance(arg, dict):
        raise FilterError(f"JsonFilter: a JSON object is not an argument: {json.dumps(arg)}")
    if isinstance(arg, str) and arg.startswith("$"):
        path = arg[1:].split(".")
        if not all(path):
            raise FilterError(f"JsonFilter: {arg!r} is not a host field (write $name or $name.key)")
        return lambda host: lookup(host, path, stats_fallback=False)
    return lambda host: arg


def _compare_all(compare: Callable[[Any, Any], bool], first: Any, rest: list[Any]) -> bool:
    return all(_compare(compare, first, other) for other in rest)


def _is_in(first: Any, rest: list[Any]) -> bool:
    return any(_compare(operator.eq, first, other) for other in rest)


def _compare(compare: Callable[[Any, Any], bool], a: Any, b: Any) -> bool:
    if a is None or b is None:
        return False
    if _is_number(a) != _is_number(b):
        try:
            a, b = float(a), float(b)
        except (TypeError, ValueError):
            return False
    try:
        return bool(compare(a, b))
    except TypeError:
        return False  # e.g. a list against a number: the host does not match


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
