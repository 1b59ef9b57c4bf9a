"""Policy rules in the oslo.policy check-string language, with upstream's defaults.

Supported syntax: ``@`` (always), ``!`` (never), ``role:NAME``, ``rule:NAME``,
``FIELD:%(target_key)s`` and ``FIELD:literal`` generic checks, ``not``, ``and``,
``or`` and parentheses. Without ``enforce_new_defaults`` a default rule also
accepts its deprecated (legacy) check string, as oslo.policy does.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

__all__ = ["DEFAULT_RULES", "Enforcer", "PolicyNotAuthorized", "Rule"]


@dataclass(frozen=True)
class Rule:
    name: str
    check: str
    deprecated: str | None = None
    scoped: bool = True  # scope_types=['project']


_ADMIN_OR_SERVICE = "rule:admin_or_service_api"
_LEGACY = "role:admin"


def _rules() -> list[Rule]:
    out = [
        Rule("admin_api", "role:admin"),
        Rule("service_api", "role:service", _LEGACY),
        Rule("admin_or_service_api", "role:admin or role:service", _LEGACY),
        Rule("project_reader_api", "role:reader and project_id:%(project_id)s", _LEGACY, scoped=False),
        Rule(
            "admin_or_project_reader_or_service_api",
            "role:admin or rule:project_reader_api or role:service",
            _LEGACY,
        ),
    ]
    nouns = {
        "resource_providers": ("list", "create", "show", "update", "delete"),
        "resource_classes": ("list", "create", "show", "update", "delete"),
        "resource_providers:inventories": ("list", "create", "show", "update", "delete"),
        "resource_providers:aggregates": ("list", "update"),
        "traits": ("list", "show", "update", "delete"),
        "resource_providers:traits": ("list", "update", "delete"),
        "allocations": ("manage", "list", "update", "delete"),
        "resource_providers:allocations": ("list",),
        "allocation_candidates": ("list",),
    }
    for noun, verbs in nouns.items():
        out += [Rule(f"placement:{noun}:{verb}", _ADMIN_OR_SERVICE) for verb in verbs]
    out.append(Rule("placement:resource_providers:usages", _ADMIN_OR_SERVICE))
    out.append(Rule("placement:usages", "rule:admin_or_project_reader_or_service_api"))
    out.append(Rule("placement:reshaper:reshape", "rule:service_api"))
    out.append(Rule("placement:provider_graph:show", _ADMIN_OR_SERVICE))  # allotment's extension route
    return out


DEFAULT_RULES = _rules()


class PolicyNotAuthorized(Exception):
    def __init__(self, action: str, message: str | None = None) -> None:
        super().__init__(message or f"Policy does not allow {action} to be performed.")
        self.action = action


# ---- check-string compiler -------------------------------------------------------------

Check = Callable[[Mapping[str, Any], Mapping[str, Any], "Enforcer"], bool]
def _tokens(text: str) -> list[str]:
    """Split on whitespace, peeling grouping parentheses off the ends of each word
    (but not the ones inside a ``%(key)s`` substitution)."""
    out: list[str] = []
    for word in text.split():
        while word.startswith("("):
            out.append("(")
            word = word[1:]
        closers = 0
        while word.endswith(")") and word.count(")") > word.count("("):
            word = word[:-1]
            closers += 1
        if word:
            out.append(word)
        out.extend(")" * closers)
    return out


def _atom(token: str) -> Check:
    if token == "@":
        return lambda t, c, e: True
    if token == "!":
        return lambda t, c, e: False
    kind, _, value = token.partition(":")
    if kind == "rule":
        return lambda t, c, e: e.check_rule(value, t, c)
    if kind == "role":
        want = value.lower()
        return lambda t, c, e: want in [r.lower() for r in c.get("roles", [])]
    if value.startswith("%(") and value.endswith(")s"):
        key = value[2:-2]
        return lambda t, c, e: key in t and c.get(kind) is not None and str(c.get(kind)) == str(t[key])
    literal = value.strip("'\"")
    if literal in ("True", "False"):
        return lambda t, c, e: str(c.get(kind)) == literal
    return lambda t, c, e: str(c.get(kind)) == literal


def compile_check(text: str) -> Check:
    """Compile an oslo.policy check string; an empty string always passes."""
    tokens = _tokens(text)
    if not tokens:
        return lambda t, c, e: True
    pos = 0

    def parse_or() -> Check:
        nonlocal pos
        parts = [parse_and()]
        while pos < len(tokens) and tokens[pos].lower() == "or":
            pos += 1
            parts.append(parse_and())
        return parts[0] if len(parts) == 1 else (lambda t, c, e: any(p(t, c, e) for p in parts))

    def parse_and() -> Check:
        nonlocal pos
        parts = [parse_not()]
        while pos < len(tokens) and tokens[pos].lower() == "and":
            pos += 1
            parts.append(parse_not())
        return parts[0] if len(parts) == 1 else (lambda t, c, e: all(p(t, c, e) for p in parts))

    def parse_not() -> Check:
        nonlocal pos
        if pos < len(tokens) and tokens[pos].lower() == "not":
            pos += 1
            inner = parse_not()
            return lambda t, c, e: not inner(t, c, e)
        if pos < len(tokens) and tokens[pos] == "(":
            pos += 1
            inner = parse_or()
            if pos < len(tokens) and tokens[pos] == ")":
                pos += 1
            return inner
        token = tokens[pos]
        pos += 1
        return _atom(token)

    check = parse_or()
    if pos != len(tokens):
        raise ValueError(f"cannot parse policy check string {text!r}")
    return check


class Enforcer:
    """Decides whether credentials may perform an action."""

    def __init__(
        self,
        *,
        enforce_new_defaults: bool = False,
        enforce_scope: bool = False,
        overrides: Mapping[str, str] | None = None,
    ) -> None:
        self.enforce_scope = enforce_scope
        self._scoped: dict[str, bool] = {}
        self._checks: dict[str, Check] = {}
        for rule in DEFAULT_RULES:
            text = rule.check
            if rule.deprecated and not enforce_new_defaults:
                text = f"({rule.check}) or ({rule.deprecated})"
            self._checks[rule.name] = compile_check(text)
            self._scoped[rule.name] = rule.scoped
        for name, text in (overrides or {}).items():
            self._checks[name] = compile_check(text)

    @classmethod
    def from_file(cls, path: str | None, **kwargs: bool) -> "Enforcer":
        overrides: dict[str, str] = {}
        if path:
            text = Path(path).read_text()
            data = json.loads(text) if path.endswith(".json") else yaml.safe_load(text)
            overrides = {str(k): str(v) for k, v in (data or {}).items()}
        return cls(overrides=overrides, **kwargs)

    def check_rule(self, name: str, target: Mapping[str, Any], creds: Mapping[str, Any]) -> bool:
        check = self._checks.get(name)
        return bool(check and check(target, creds, self))

    def authorize(self, action: str, target: Mapping[str, Any], creds: Mapping[str, Any]) -> None:
        if action not in self._checks:
            raise KeyError(f"policy {action} is not registered")
        # Rules are for project-scoped tokens (scope_types=['project']): under enforce_scope a
        # system- or domain-scoped token is refused, as oslo.policy does; upstream turns
        # oslo.policy's InvalidScope into a refusal whose message is the bare rule name.
        if self.enforce_scope and self._scoped.get(action, False) and (
                creds.get("system_scope") or creds.get("domain_id")):
            raise PolicyNotAuthorized(action, message=action)
        if not self._checks[action](target, creds, self):
            raise PolicyNotAuthorized(action)
