"""``allotment provider load FILE``: create or update many providers from YAML or JSON (format: see ``load``)."""

from __future__ import annotations

import re
import sys
import uuid as uuidlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import yaml
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from allotment.cli.output import Output, console, output_options
from allotment.cli.session import Session, pass_session, placement_failure
from allotment.client import GenerationConflict, PlacementClient, PlacementError

__all__ = ["ProviderSpec", "load", "read_specs"]

_KEYS = {"name", "uuid", "parent", "inventories", "traits", "aggregates"}
_INVENTORY_DEFAULTS: dict[str, Any] = {
    "reserved": 0, "min_unit": 1, "max_unit": 2147483647, "step_size": 1, "allocation_ratio": 1.0,
}
_UUID = re.compile(r"^[0-9a-fA-F]{8}-?([0-9a-fA-F]{4}-?){3}[0-9a-fA-F]{12}$")
_ATTEMPTS = 3  # a provider changed by someone else meanwhile is re-read and retried this often


@dataclass
class ProviderSpec:
    """One provider as the file describes it."""

    name: str
    uuid: str | None = None
    parent: str | None = None
    inventories: dict[str, dict[str, Any]] | None = None
    traits: list[str] | None = None
    aggregates: list[str] | None = None


@dataclass
class LoadResult:
    spec: ProviderSpec
    uuid: str | None = None
    result: str = "unchanged"  # created, updated, unchanged or failed
    error: str | None = None
    changes: list[str] = field(default_factory=list)


class LoadFailure(Exception):
    """A provider that could not be loaded for a reason of our own (not placement's)."""


def _string_list(value: Any, what: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ValueError(f"{what} must be a list of names")
    return value


def _inventories(value: Any, where: str) -> dict[str, dict[str, Any]]:
    if not isinstance(value, dict):
        raise ValueError(f"{where}: inventories must map resource classes to a total or to inventory fields")
    result = {}
    for rc, inv in value.items():
        if isinstance(inv, bool) or not isinstance(inv, (int, dict)):
            raise ValueError(f"{where}: inventory of {rc} must be a total or a mapping of fields")
        result[str(rc)] = {"total": inv} if isinstance(inv, int) else dict(inv)
    return result


def _spec(index: int, item: Any) -> ProviderSpec:
    if not isinstance(item, dict):
        raise ValueError(f"provider #{index + 1} is not a mapping")
    where = f"provider #{index + 1}"
    if not isinstance(item.get("name"), str) or not item["name"]:
        raise ValueError(f"{where} has no name")
    where = f"provider {item['name']!r}"
    unknown = set(item) - _KEYS
    if unknown:
        raise ValueError(f"{where}: unknown keys {', '.join(sorted(unknown))} (known: {', '.join(sorted(_KEYS))})")
    for key in ("uuid", "parent"):
        if item.get(key) is not None and not isinstance(item[key], str):
            raise ValueError(f"{where}: {key} must be a string")
    return ProviderSpec(
        name=item["name"],
        uuid=item.get("uuid"),
        parent=item.get("parent"),
        inventories=_inventories(item["inventories"], where) if "inventories" in item else None,
        traits=_string_list(item["traits"], f"{where}: traits") if "traits" in item else None,
        aggregates=_string_list(item["aggregates"], f"{where}: aggregates") if "aggregates" in item else None,
    )


def _parents_first(specs: list[ProviderSpec]) -> list[ProviderSpec]:
    """The specs ordered so that a parent described in the file comes before its children."""
    by_ref = {s.name: s for s in specs} | {s.uuid: s for s in specs if s.uuid}
    ordered: list[ProviderSpec] = []
    state: dict[int, str] = {}

    def visit(spec: ProviderSpec, path: list[str]) -> None:
        if state.get(id(spec)) == "done":
            return
        if state.get(id(spec)) == "visiting":
            raise ValueError(f"parent cycle: {' -> '.join([*path, spec.name])}")
        state[id(spec)] = "visiting"
        parent = by_ref.get(spec.parent) if spec.parent else None
        if parent is not None:
            visit(parent, [*path, spec.name])
        state[id(spec)] = "done"
        ordered.append(spec)

    for spec in specs:
        visit(spec, [])
    return ordered


def read_specs(text: str) -> list[ProviderSpec]:
    """Parse and check a load file (YAML, which includes JSON); ``ValueError`` says what is wrong."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(f"not YAML or JSON: {exc}") from exc
    if isinstance(doc, dict) and set(doc) == {"providers"}:
        doc = doc["providers"]
    if not isinstance(doc, list):
        raise ValueError("expected a list of providers, or a mapping with the list under 'providers'")
    specs = [_spec(i, item) for i, item in enumerate(doc)]
    for attr in ("name", "uuid"):
        seen: set[str] = set()
        for spec in specs:
            value = getattr(spec, attr)
            if value is not None and value in seen:
                raise ValueError(f"{attr} {value!r} appears twice")
            if value is not None:
                seen.add(value)
    return _parents_first(specs)


class _Loader:
    """Applies specs one at a time, remembering the uuids of those already loaded (for their children)."""

    def __init__(self, client: PlacementClient) -> None:
        self.client = client
        self.loaded: dict[str, str | None] = {}  # name and uuid in the file -> uuid in placement (None: failed)
        self.classes: set[str] | None = None
        self.traits: set[str] = set()

    def _by_uuid(self, uuid: str) -> dict[str, Any] | None:
        try:
            return dict(self.client.request("GET", f"/resource_providers/{uuid}"))
        except PlacementError as exc:
            if exc.status == 404:
                return None
            raise

    def _by_name(self, name: str) -> dict[str, Any] | None:
        found = self.client.request("GET", "/resource_providers", params={"name": name})["resource_providers"]
        return dict(found[0]) if found else None

    def _parent_uuid(self, spec: ProviderSpec) -> str | None:
        if spec.parent is None:
            return None
        if spec.parent in self.loaded:
            parent = self.loaded[spec.parent]
            if parent is None:
                raise LoadFailure(f"parent {spec.parent!r} failed to load")
            return parent
        found = (self._by_uuid(spec.parent) if _UUID.match(spec.parent) else None) or self._by_name(spec.parent)
        if found is None:
            raise LoadFailure(f"parent {spec.parent!r} is neither in the file nor in placement")
        return str(found["uuid"])

    def _ensure_custom(self, inventories: dict[str, Any] | None, traits: list[str] | None) -> None:
        custom_classes = {rc for rc in inventories or {} if rc.startswith("CUSTOM_")}
        if custom_classes:
            if self.classes is None:
                known = self.client.request("GET", "/resource_classes")["resource_classes"]
                self.classes = {rc["name"] for rc in known}
            for rc in sorted(custom_classes - self.classes):
                self.client.request("PUT", f"/resource_classes/{rc}")
                self.classes.add(rc)
        for trait in sorted({t for t in traits or [] if t.startswith("CUSTOM_")} - self.traits):
            self.client.request("PUT", f"/traits/{trait}")
            self.traits.add(trait)

    def _apply(self, spec: ProviderSpec, result: LoadResult) -> None:
        client = self.client
        parent = self._parent_uuid(spec)
        current = self._by_uuid(spec.uuid) if spec.uuid else self._by_name(spec.name)
        if current is None:
            data = {"name": spec.name, "uuid": spec.uuid or str(uuidlib.uuid4())}
            if parent:
                data["parent_provider_uuid"] = parent
            client.request("POST", "/resource_providers", json=data)
            current = dict(client.request("GET", f"/resource_providers/{data['uuid']}"))
            result.changes.append("created")
        elif current["name"] != spec.name or (parent and current.get("parent_provider_uuid") != parent):
            data = {"name": spec.name}
            if parent:
                data["parent_provider_uuid"] = parent
            current = dict(client.request("PUT", f"/resource_providers/{current['uuid']}", json=data))
            result.changes.append("renamed or moved")
        uuid = result.uuid = str(current["uuid"])
        base = f"/resource_providers/{uuid}"
        self._ensure_custom(spec.inventories, spec.traits)
        if spec.inventories is not None:
            have = client.request("GET", f"{base}/inventories")
            want = {rc: {**_INVENTORY_DEFAULTS, **inv} for rc, inv in spec.inventories.items()}
            if have["inventories"] != want:
                client.request("PUT", f"{base}/inventories", json={
                    "resource_provider_generation": have["resource_provider_generation"], "inventories": want,
                })
                result.changes.append("inventories")
        # Traits and aggregates are both a set written whole with the provider's generation.
        for kind, wanted in (("traits", spec.traits), ("aggregates", spec.aggregates)):
            if wanted is None:
                continue
            have = client.request("GET", f"{base}/{kind}")
            if sorted(have[kind]) != sorted(set(wanted)):
                client.request("PUT", f"{base}/{kind}", json={
                    "resource_provider_generation": have["resource_provider_generation"],
                    kind: sorted(set(wanted)),
                })
                result.changes.append(kind)

    def load(self, spec: ProviderSpec) -> LoadResult:
        result = LoadResult(spec)
        for attempt in range(_ATTEMPTS):
            try:
                self._apply(spec, result)
                break
            except GenerationConflict as exc:
                if attempt == _ATTEMPTS - 1:
                    result.result, result.error = "failed", placement_failure(exc)
            except PlacementError as exc:
                result.result, result.error = "failed", placement_failure(exc)
                break
            except LoadFailure as exc:
                result.result, result.error = "failed", str(exc)
                break
        if result.result != "failed" and result.changes:
            result.result = "created" if "created" in result.changes else "updated"
        target = result.uuid if result.result != "failed" else None
        self.loaded[spec.name] = target
        if spec.uuid:
            self.loaded[spec.uuid] = target
        return result


def _read(path: str) -> list[ProviderSpec]:
    try:
        text = Path(path).read_text() if path != "-" else sys.stdin.read()
        return read_specs(text)
    except (OSError, ValueError) as exc:
        raise click.BadParameter(str(exc), param_hint="FILE") from exc


@click.command("load")
@click.argument("file", metavar="FILE")
@output_options("name", "uuid", "result", "error")
@pass_session
def load(session: Session, out: Output, file: str) -> None:
    """Create or update the providers described in FILE (YAML or JSON; - for stdin).

    \b
    providers:
      - name: cn1                 # found by name, or by uuid when one is given
        uuid: 5f1c...             # optional
        inventories: {VCPU: 16, MEMORY_MB: {total: 65536, reserved: 512}}
        traits: [HW_CPU_X86_AVX2, CUSTOM_RACK_A]
        aggregates: [0e7a...]
      - name: cn1-gpu0
        parent: cn1               # a name or uuid, in the file or in placement

    Inventories, traits and aggregates given replace the provider's; those not given are left
    alone. Custom classes and traits are created as needed. Shows a progress bar on a terminal,
    then one row per provider; exit status 1 if any failed.
    """
    specs = _read(file)
    loader = _Loader(session.client)
    results: list[LoadResult] = []
    err = console(stderr=True)
    if err.is_terminal:
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=err, transient=False) as progress:
            task = progress.add_task("loading providers", total=len(specs))
            for spec in specs:
                progress.update(task, description=f"loading {spec.name}")
                results.append(loader.load(spec))
                progress.advance(task)
            progress.update(task, description="loaded providers")
    else:
        for number, spec in enumerate(specs, start=1):
            result = loader.load(spec)
            results.append(result)
            click.echo(f"[{number}/{len(specs)}] {spec.name}: {result.result}", err=True)
    for result in results:
        if result.error:
            click.echo(f"error: {result.spec.name}: {result.error}", err=True)
    out.listing(("name", "uuid", "result", "error"),
                [[r.spec.name, r.uuid or "", r.result, r.error or ""] for r in results])
    counts = {kind: sum(r.result == kind for r in results) for kind in ("created", "updated", "unchanged", "failed")}
    click.echo(f"{len(results)} providers: " + ", ".join(f"{n} {kind}" for kind, n in counts.items()), err=True)
    if counts["failed"]:
        raise click.exceptions.Exit(1)
