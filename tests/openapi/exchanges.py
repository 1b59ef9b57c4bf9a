"""Recorded HTTP exchanges (``allotment.infra.exchange_log``) checked against an OpenAPI document.

    python -m tests.openapi.exchanges RECORD.jsonl [--doc docs/openapi/placement.json]

prints the number of exchanges checked and every violation; exits 1 when there is one.
An exchange is checked when it reaches an operation of the document: its status must be
documented, its content type one the status documents, its JSON body valid against that
schema and its documented headers valid. Exchanges outside the document (CORS pre-flight,
unknown paths, methods a path does not have) are counted apart, and their JSON error bodies
must still be the documented error shape.
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import sys
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

ROOT = Path(__file__).resolve().parents[2]
PLACEMENT_DOC = ROOT / "docs" / "openapi" / "placement.json"
SCHEDULER_DOC = ROOT / "docs" / "openapi" / "scheduler.json"
_DOC_URI = "urn:allotment:openapi"


@dataclass
class Report:
    checked: int = 0
    outside: int = 0
    violations: list[str] = field(default_factory=list)
    by_operation: Counter[str] = field(default_factory=Counter)


def _pointer(*parts: str) -> str:
    return "#/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


def _body(record: dict[str, Any], key: str) -> bytes:
    raw = record[key]
    return raw["text"].encode("utf-8") if "text" in raw else base64.b64decode(raw["base64"])


class Checker:
    """Checks exchanges against one OpenAPI 3.1 document."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.doc = document
        self.registry: Registry[Any] = Registry().with_resource(
            _DOC_URI, Resource.from_contents(document, default_specification=DRAFT202012)
        )
        self.paths = [
            (re.compile("^" + re.sub(r"\{(\w+)\}", r"[^/]+", template) + "$"), template)
            for template in document["paths"]
        ]
        self._validators: dict[str, jsonschema.Draft202012Validator] = {}

    def _validator(self, pointer: str) -> jsonschema.Draft202012Validator:
        v = self._validators.get(pointer)
        if v is None:
            v = self._validators[pointer] = jsonschema.Draft202012Validator(
                {"$ref": _DOC_URI + pointer}, registry=self.registry,
                format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
            )
        return v

    def _resolve(self, node: dict[str, Any], where: tuple[str, ...]) -> tuple[dict[str, Any], tuple[str, ...]]:
        if "$ref" in node:
            parts = tuple(p.replace("~1", "/").replace("~0", "~") for p in node["$ref"][2:].split("/"))
            target: Any = self.doc
            for p in parts:
                target = target[p]
            return target, parts
        return node, where

    def _errors(self, pointer: str, data: Any) -> list[str]:
        return [f"{'/'.join(map(str, e.absolute_path)) or '(body)'}: {e.message}"[:400]
                for e in self._validator(pointer).iter_errors(data)]

    def check(self, record: dict[str, Any], report: Report) -> None:
        method = record["method"].lower()
        path = record["path"] or "/"
        status = record["status"]
        label = f"{record['method']} {path}{'?' + record['query'] if record['query'] else ''} -> {status}"
        template = next((t for pattern, t in self.paths if pattern.match(path)), None)
        headers = {k.lower(): v for k, v in record["response_headers"]}
        if method == "options" and "access-control-request-method" in record["request_headers"]:
            report.outside += 1  # CORS pre-flight: answered before routing, no operation
            return
        if template is None or method not in self.doc["paths"][template]:
            report.outside += 1
            if status not in (401, 404, 405):
                report.violations.append(f"{label}: outside the document, yet not 401/404/405")
            self._check_error_body(label, headers, record, report)
            return
        report.checked += 1
        report.by_operation[f"{record['method']} {template}"] += 1
        responses = self.doc["paths"][template][method]["responses"]
        if str(status) not in responses:
            report.violations.append(f"{label}: status {status} not documented for {method.upper()} {template}")
            return
        response, where = self._resolve(responses[str(status)], ("paths", template, method, "responses", str(status)))
        body = _body(record, "response_body")
        for name, spec in response.get("headers", {}).items():
            spec, hwhere = self._resolve(spec, (*where, "headers", name))
            if name in headers:
                for error in self._errors(_pointer(*hwhere, "schema"), headers[name]):
                    report.violations.append(f"{label}: header {name}: {error}")
        content = response.get("content")
        if not content:
            if body:
                report.violations.append(f"{label}: a body where the document has none")
            return
        ctype = headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype not in content:
            report.violations.append(f"{label}: content type {ctype!r} not in {sorted(content)}")
            return
        if ctype == "application/json":
            try:
                data = json.loads(body)
            except ValueError as exc:
                report.violations.append(f"{label}: not JSON: {exc}")
                return
            for error in self._errors(_pointer(*where, "content", ctype, "schema"), data):
                report.violations.append(f"{label}: {error}")

    def _check_error_body(self, label: str, headers: dict[str, str], record: dict[str, Any], report: Report) -> None:
        if headers.get("content-type", "").startswith("application/json") and "ErrorBody" in self.doc["components"][
                "schemas"]:
            for error in self._errors("#/components/schemas/ErrorBody", json.loads(_body(record, "response_body"))):
                report.violations.append(f"{label}: {error}")


def read_records(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


def check_records(document: dict[str, Any], records: Iterable[dict[str, Any]]) -> Report:
    checker = Checker(document)
    report = Report()
    for record in records:
        checker.check(record, report)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.openapi.exchanges")
    parser.add_argument("records", type=Path)
    parser.add_argument("--doc", type=Path, default=PLACEMENT_DOC)
    args = parser.parse_args(argv)
    report = check_records(json.loads(args.doc.read_text()), read_records(args.records))
    for v in report.violations:
        print(v)
    print(f"{report.checked} exchanges checked against {len(report.by_operation)} operations, "
          f"{report.outside} outside the document, {len(report.violations)} violations")
    return 1 if report.violations else 0


if __name__ == "__main__":
    sys.exit(main())
