"""Parsing of the query-string mini-languages: resources, required traits, member_of, in_tree."""

from __future__ import annotations

from allotment.placement.api.http import HTTPError, Request
from allotment.placement.api.util import canonical_uuid, is_uuid_like

__all__ = ["parse_in_tree", "parse_member_of", "parse_required", "parse_resources"]

_RESOURCES_FORM = "Expected resources query string parameter in form: ?resources=VCPU:2,MEMORY_MB:1024."


def parse_resources(value: str) -> dict[str, int]:
    """``VCPU:2,MEMORY_MB:1024`` -> {"VCPU": 2, "MEMORY_MB": 1024}."""
    if value.strip() == "":
        raise HTTPError(400, f"Badly formed resources parameter. {_RESOURCES_FORM} Got: empty string.")
    result: dict[str, int] = {}
    for item in value.split(","):
        try:
            name, raw = item.split(":")
        except ValueError:
            raise HTTPError(400, f"Badly formed resources parameter. {_RESOURCES_FORM} Got: {item}.") from None
        try:
            amount = int(raw)
        except ValueError:
            raise HTTPError(
                400, f"Requested resource {name} expected positive integer amount. Got: {raw}."
            ) from None
        if amount < 1:
            raise HTTPError(400, f"Requested resource {name} requires amount >= 1. Got: {amount}.")
        result[name] = amount
    return result


def _parse_required_value(value: str, allow_forbidden: bool, allow_any: bool) -> tuple[list[set[str]], set[str]]:
    if value.startswith("in:"):
        if not allow_any:
            raise HTTPError(
                400,
                "Invalid query string parameters: The format 'in:HW_CPU_X86_VMX,CUSTOM_MAGIC' only supported "
                f"since microversion 1.39. Got: {value}",
            )
        any_of = {t.strip() for t in value[3:].split(",")}
        if not all(any_of):
            raise HTTPError(
                400,
                "Invalid query string parameters: Expected 'required' parameter value of the form: "
                f"in:HW_CPU_X86_VMX,CUSTOM_MAGIC. Got an empty trait in: {value}",
            )
        if any(t.startswith("!") for t in any_of):
            raise HTTPError(
                400,
                "Invalid query string parameters: The format 'in:HW_CPU_X86_VMX,CUSTOM_MAGIC' does not "
                f"support forbidden traits. Got: {value}",
            )
        return [any_of], set()
    items = [t.strip() for t in value.split(",")]
    # Any number of leading '!' mean "forbidden" (upstream accepts '!!FOO' as '!FOO').
    forbidden = {t.lstrip("!") for t in items if t.startswith("!")}
    if not all(items) or not all(forbidden):
        form = "HW_CPU_X86_VMX,!CUSTOM_MAGIC" if allow_forbidden else "HW_CPU_X86_VMX,CUSTOM_MAGIC"
        raise HTTPError(
            400,
            "Invalid query string parameters: Expected 'required' parameter value of the form: "
            f"{form}. Got an empty trait in: {value}",
        )
    if forbidden and not allow_forbidden:
        raise HTTPError(
            400,
            "Invalid query string parameters: Expected 'required' parameter value of the form: "
            f"HW_CPU_X86_VMX,CUSTOM_MAGIC. Got: {value}",
        )
    return [{t} for t in items if not t.startswith("!")], forbidden


def parse_required(req: Request, suffix: str = "") -> tuple[list[set[str]], set[str]]:
    """``required``: a list of any-of sets (all must hold) and a set of forbidden traits.

    Forbidden traits from 1.22; ``in:`` and repeating the parameter from 1.39 (before
    that only the last occurrence counts).
    """
    version = req.version
    allow_forbidden = version.matches((1, 22))
    allow_any = version.matches((1, 39))
    values = req.getall("required" + suffix)
    if not allow_any:
        values = values[-1:]
    required: list[set[str]] = []
    forbidden: set[str] = set()
    for value in values:
        r, f = _parse_required_value(value, allow_forbidden, allow_any)
        required += r
        forbidden |= f
    return required, forbidden


def _parse_member_of_value(value: str) -> tuple[set[str], set[str]]:
    if "," in value and not (value.startswith("in:") or value.startswith("!in:")):
        raise HTTPError(
            400,
            "Multiple values for 'member_of' must be prefixed with the 'in:' or '!in:' keyword using the "
            f"valid microversion. Got: {value}",
        )
    required: set[str] = set()
    forbidden: set[str] = set()
    if value.startswith("!in:"):
        forbidden = set(value[4:].split(","))
    elif value.startswith("!"):
        forbidden = {value[1:]}
    elif value.startswith("in:"):
        required = set(value[3:].split(","))
    else:
        required = {value}
    for agg in required | forbidden:
        if not is_uuid_like(agg):
            raise HTTPError(
                400,
                "Invalid query string parameters: Expected 'member_of' parameter to contain valid UUID(s). "
                f"Got: {agg}",
            )
    return {canonical_uuid(a) for a in required}, {canonical_uuid(a) for a in forbidden}


def parse_member_of(req: Request, suffix: str = "") -> tuple[list[set[str]], set[str]]:
    """``member_of``: any-of aggregate sets (all must hold) and forbidden aggregates.

    Repeats from 1.24, ``!`` forms from 1.32.
    """
    version = req.version
    values = req.getall("member_of" + suffix)
    if not version.matches((1, 24)) and len(values) > 1:
        raise HTTPError(400, f"Multiple member_of{suffix} parameters are not supported")
    required: list[set[str]] = []
    forbidden: set[str] = set()
    for value in values:
        r, f = _parse_member_of_value(value)
        if r:
            required.append(r)
        if f:
            if not version.matches((1, 32)):
                raise HTTPError(
                    400, f"Forbidden member_of{suffix} parameters are not supported in the specified microversion"
                )
            forbidden |= f
    return required, forbidden


def parse_in_tree(value: str) -> str:
    value_s = value.strip()
    if not is_uuid_like(value_s):
        raise HTTPError(
            400,
            f"Invalid query string parameters: Expected 'in_tree' parameter to be a format of uuid. Got: {value}",
        )
    return value_s
