"""``allotment provider tree``: every provider under its root, with usage per class, inventory and traits."""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any

import click
from rich.text import Text
from rich.tree import Tree

from allotment.cli.output import Output, console
from allotment.cli.session import Session, pass_session

if TYPE_CHECKING:
    from allotment.client import PlacementClient

__all__ = ["capacity", "collect_trees", "tree"]

# Inventory fields shown only when they differ from placement's defaults.
_DEFAULTS = {"reserved": 0, "min_unit": 1, "max_unit": 2147483647, "step_size": 1, "allocation_ratio": 1.0}


def capacity(inv: dict[str, Any]) -> int:
    """What can be allocated: (total - reserved) * allocation_ratio, as placement counts it."""
    return int((inv["total"] - inv["reserved"]) * inv["allocation_ratio"])


def _details(client: PlacementClient, session: Session, rp: dict[str, Any]) -> dict[str, Any]:
    uuid = rp["uuid"]
    inventories = client.request("GET", f"/resource_providers/{uuid}/inventories")["inventories"]
    usages = client.request("GET", f"/resource_providers/{uuid}/usages")["usages"]
    traits = client.request("GET", f"/resource_providers/{uuid}/traits")["traits"] if session.at_least("1.6") else []
    aggregates = (client.request("GET", f"/resource_providers/{uuid}/aggregates")["aggregates"]
                  if session.at_least("1.1") else [])
    return {
        "uuid": uuid,
        "name": rp["name"],
        "generation": rp["generation"],
        "inventories": {
            rc: {**inv, "used": usages.get(rc, 0), "capacity": capacity(inv)} for rc, inv in sorted(inventories.items())
        },
        "traits": sorted(traits),
        "aggregates": sorted(aggregates),
        "children": [],
    }


def collect_trees(session: Session, root: str | None) -> list[dict[str, Any]]:
    """The provider trees (all, or the one holding ``root``) as nested dicts, children sorted by name."""
    client = session.client
    params: dict[str, str] = {}
    if root:
        client.request("GET", f"/resource_providers/{root}")  # an unknown uuid is a 404, not an empty tree
        params["in_tree"] = root
    providers = client.request("GET", "/resource_providers", params=params)["resource_providers"]
    nodes = {rp["uuid"]: _details(client, session, rp) for rp in providers}
    children: dict[str | None, list[dict[str, Any]]] = defaultdict(list)
    for rp in providers:
        parent = rp.get("parent_provider_uuid")
        children[parent if parent in nodes else None].append(nodes[rp["uuid"]])
    for parent, kids in children.items():
        kids.sort(key=lambda n: (n["name"], n["uuid"]))
        if parent is not None:
            nodes[parent]["children"] = kids
    return children[None]


def _label(node: dict[str, Any]) -> Text:
    label = Text()
    label.append(node["name"], style="bold")
    label.append(f"  {node['uuid']}", style="dim")
    return label


def _inventory_line(rc: str, inv: dict[str, Any]) -> Text:
    line = Text()
    line.append(f"{rc} ", style="cyan")
    line.append(f"{inv['used']}/{inv['capacity']}")
    extras = [f"total={inv['total']}"] + [
        f"{k}={inv[k]}" for k, default in _DEFAULTS.items() if inv.get(k, default) != default
    ]
    line.append("  " + " ".join(extras), style="dim")
    return line


def _grow(branch: Tree, node: dict[str, Any]) -> None:
    for rc, inv in node["inventories"].items():
        branch.add(_inventory_line(rc, inv))
    if node["traits"]:
        branch.add(Text("traits: " + ", ".join(node["traits"]), style="green"))
    if node["aggregates"]:
        branch.add(Text("aggregates: " + ", ".join(node["aggregates"]), style="magenta"))
    for child in node["children"]:
        _grow(branch.add(_label(child)), child)


@click.command("tree")
@click.argument("root_uuid", required=False)
@click.option("-f", "--format", "fmt", type=click.Choice(["tree", "json", "yaml"]), default="tree", show_default=True,
              help="Output format: an indented tree, or the same trees nested in JSON or YAML.")
@pass_session
def tree(session: Session, root_uuid: str | None, fmt: str) -> None:
    """Show provider trees with usage/capacity per class, inventory, traits and aggregates.

    With ROOT_UUID, only the tree holding that provider.
    """
    roots = collect_trees(session, root_uuid)
    if fmt != "tree":
        Output(fmt).document(roots)
        return
    out = console()
    if not roots:
        click.echo("no resource providers")
    for root in roots:
        view = Tree(_label(root))
        _grow(view, root)
        out.print(view)
