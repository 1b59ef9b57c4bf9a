"""``allotment inventory list|set|delete``, with osc-placement's ``--resource CLASS[:FIELD]=VALUE`` syntax."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import click

from allotment.cli.output import Output, output_options
from allotment.cli.session import PlacementGroup, Session, pass_session

__all__ = ["INVENTORY_FIELDS", "inventory", "parse_resource"]

# The order osc-placement shows them in; total is the field a bare CLASS=VALUE sets.
FIELD_TYPES: dict[str, type] = {
    "allocation_ratio": float,
    "min_unit": int,
    "max_unit": int,
    "reserved": int,
    "step_size": int,
    "total": int,
}
INVENTORY_FIELDS = tuple(FIELD_TYPES)


def parse_resource(value: str) -> tuple[str, str, int | float]:
    """``VCPU=8`` -> ``("VCPU", "total", 8)``; ``MEMORY_MB:max_unit=1024`` -> ``("MEMORY_MB", "max_unit", 1024)``."""
    target, sep, raw = value.partition("=")
    if not sep or "=" in raw:
        raise ValueError(f"{value!r} is not CLASS=VALUE or CLASS:FIELD=VALUE")
    name, colon, field = target.partition(":")
    if not colon:
        field = "total"
    if ":" in field:
        raise ValueError(f"{value!r} has more than one ':'")
    name, field, raw = name.strip(), field.strip(), raw.strip()
    if not name or not field or not raw:
        raise ValueError(f"{value!r}: class, field and value must not be empty")
    if field not in FIELD_TYPES:
        raise ValueError(f"{value!r}: unknown inventory field {field!r} (fields: {', '.join(INVENTORY_FIELDS)})")
    try:
        return name, field, FIELD_TYPES[field](raw)
    except ValueError:
        kind = "a number" if FIELD_TYPES[field] is float else "an integer"
        raise ValueError(f"{value!r}: {field} must be {kind}") from None


def _parse_resources(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> list[tuple[str, str, Any]]:
    try:
        return [parse_resource(v) for v in values]
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc


def _rows(inventories: dict[str, dict[str, Any]], fields: tuple[str, ...],
          usages: dict[str, int] | None = None) -> list[list[Any]]:
    rows = []
    for rc, inv in inventories.items():
        row = [rc, *(inv.get(f) for f in fields)]
        if usages is not None:
            row.append(usages.get(rc, 0))
        rows.append(row)
    return rows


@click.group(cls=PlacementGroup)
def inventory() -> None:
    """Inventories of resource providers."""


@inventory.command("list")
@click.argument("uuid")
@output_options("resource_class", *INVENTORY_FIELDS, "used")
@pass_session
def list_inventories(session: Session, out: Output, uuid: str) -> None:
    """List a provider's inventory with what is used of each class."""
    inventories = session.client.request("GET", f"/resource_providers/{uuid}/inventories")["inventories"]
    usages = session.client.request("GET", f"/resource_providers/{uuid}/usages")["usages"]
    out.listing(("resource_class", *INVENTORY_FIELDS, "used"), _rows(inventories, INVENTORY_FIELDS, usages))


@inventory.command("set")
@click.argument("uuid")
@click.option("--resource", "resources", multiple=True, callback=_parse_resources,
              metavar="CLASS[:FIELD]=VALUE",
              help="Set one inventory field; CLASS=VALUE sets the total "
                   f"(repeatable; fields: {', '.join(INVENTORY_FIELDS)}).")
@click.option("--amend", is_flag=True, help="Change only the classes and fields given; keep the rest.")
@click.option("--dry-run", is_flag=True, help="Show the inventory that would be set without setting it.")
@output_options("resource_class", *INVENTORY_FIELDS)
@pass_session
def set_inventories(session: Session, out: Output, uuid: str, resources: list[tuple[str, str, Any]], amend: bool,
                    dry_run: bool) -> None:
    """Replace a provider's whole inventory (or, with --amend, update parts of it)."""
    client = session.client
    inventories: dict[str, dict[str, Any]] = defaultdict(dict)
    if amend:
        current = client.request("GET", f"/resource_providers/{uuid}/inventories")
        generation = current["resource_provider_generation"]
        inventories.update(current["inventories"])
    else:
        generation = client.request("GET", f"/resource_providers/{uuid}")["generation"]
    for name, field, value in resources:
        inventories[name] = {**inventories[name], field: value}
    payload = {"resource_provider_generation": generation, "inventories": dict(inventories)}
    result = payload if dry_run else client.request("PUT", f"/resource_providers/{uuid}/inventories", json=payload)
    out.listing(("resource_class", *INVENTORY_FIELDS), _rows(result["inventories"], INVENTORY_FIELDS))


@inventory.command("delete")
@click.argument("uuid")
@click.option("--resource-class", metavar="CLASS", help="Delete only this class's inventory (default: all of it).")
@pass_session
def delete_inventories(session: Session, uuid: str, resource_class: str | None) -> None:
    """Delete a provider's inventory of one class, or all of it (1.5)."""
    path = f"/resource_providers/{uuid}/inventories"
    session.client.request("DELETE", f"{path}/{resource_class}" if resource_class else path)
