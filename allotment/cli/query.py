"""Turning CLI filter options into placement query parameters (resources, required, member_of)."""

from __future__ import annotations

from collections.abc import Iterable

import click

__all__ = ["member_of_params", "required_params", "resources_param"]


def resources_param(values: Iterable[str], option: str = "--resource") -> str:
    """``["VCPU=2", "MEMORY_MB=512"]`` as placement's ``VCPU:2,MEMORY_MB:512``."""
    parts = []
    for value in values:
        name, sep, amount = value.partition("=")
        if not sep or not name or not amount.strip().isdigit():
            raise click.BadParameter(f"{value!r} is not RESOURCE_CLASS=AMOUNT", param_hint=f"'{option}'")
        parts.append(f"{name.strip()}:{int(amount)}")
    return ",".join(parts)


def required_params(required: Iterable[str], forbidden: Iterable[str]) -> list[str]:
    """``required`` values: a comma list is any-of (``in:``), lone traits and ``!forbidden`` share one value."""
    params = []
    all_of = []
    for trait in required:
        if "," in trait:
            params.append(f"in:{trait}")
        else:
            all_of.append(trait)
    all_of += [f"!{trait}" for trait in forbidden]
    if all_of:
        params.append(",".join(all_of))
    return params


def member_of_params(member_of: Iterable[str], aggregate_uuids: Iterable[str] = ()) -> list[str]:
    """Each ``--member-of A,B`` is one any-of condition; the old ``--aggregate-uuid`` values make one more."""
    params = [f"in:{aggs}" for aggs in member_of]
    aggregate_uuids = list(aggregate_uuids)
    if aggregate_uuids:
        params.append("in:" + ",".join(aggregate_uuids))
    return params
