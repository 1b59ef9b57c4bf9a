"""Run one gabbit file against a live server and write per-test outcomes as JSON.

Executed by the *upstream* virtualenv's interpreter (the one that has gabbi),
as a plain script: it must import nothing from allotment or from tests/.

    python gabbi_driver.py --url http://127.0.0.1:8080 --out result.json FILE.yaml

The fixture data is created beforehand by the harness; the environment
variables the file reads through ``$ENVIRON`` are inherited from the caller.
The file's ``fixtures:`` entry is therefore ignored here (no fixture module
is given to gabbi).

Output: ``{"file": ..., "tests": [{"index", "name", "outcome", "message"}],
"error": null | "..."}``, outcome one of pass, fail, error, skip, xfail, xpass.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
import unittest
import urllib.parse


def _test_name(test: unittest.TestCase) -> str:
    data = getattr(test, "test_data", None)
    if isinstance(data, dict) and data.get("name"):
        return str(data["name"])
    return str(test)


class RecordingResult(unittest.TestResult):
    """Keeps one record per gabbi test, in execution order."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[dict[str, object]] = []
        self._index: dict[int, int] = {}

    def _record(self, test: unittest.TestCase, outcome: str, message: str = "") -> None:
        key = id(test)
        rec = {"name": _test_name(test), "outcome": outcome, "message": message}
        if key in self._index:
            # A test reported twice (e.g. an error in tearDown after a
            # failure): keep the worst outcome.
            prev = self.records[self._index[key]]
            if prev["outcome"] in ("pass", "skip", "xfail"):
                self.records[self._index[key]] = rec
            return
        self._index[key] = len(self.records)
        self.records.append(rec)

    @staticmethod
    def _message(err: tuple) -> str:  # type: ignore[type-arg]
        exc_type, exc, tb = err
        text = "".join(traceback.format_exception_only(exc_type, exc)).strip()
        if exc_type is not None and not issubclass(exc_type, AssertionError):
            # Unexpected exception: the innermost frames help more than the type alone.
            text += "\n" + "".join(traceback.format_tb(tb, limit=-3))
        return text

    def addSuccess(self, test):
        super().addSuccess(test)
        self._record(test, "pass")

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._record(test, "fail", self._message(err))

    def addError(self, test, err):
        super().addError(test, err)
        self._record(test, "error", self._message(err))

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        self._record(test, "skip", str(reason))

    def addExpectedFailure(self, test, err):
        super().addExpectedFailure(test, err)
        self._record(test, "xfail", self._message(err))

    def addUnexpectedSuccess(self, test):
        super().addUnexpectedSuccess(test)
        self._record(test, "xpass", "unexpected success")


def run(path: str, url: str) -> dict[str, object]:
    from gabbi import handlers, suitemaker, utils

    parts = urllib.parse.urlsplit(url)
    suite_dict = utils.load_yaml(yaml_file=path, safe=True)
    base_name = os.path.splitext(os.path.basename(path))[0]
    handler_objects = [handler() for handler in handlers.RESPONSE_HANDLERS]
    suite = suitemaker.test_suite_from_dict(
        unittest.TestLoader(), base_name, suite_dict, os.path.dirname(os.path.abspath(path)),
        parts.hostname, parts.port, None, None, prefix=parts.path.rstrip("/"),
        handlers=handler_objects, test_loader_name="conformance",
    )
    result = RecordingResult()
    suite.run(result)
    names = [str(t.get("name", "")) for t in suite_dict["tests"]]
    records = result.records
    # Every test in the file must be accounted for, in file order.
    by_name: dict[str, list[dict[str, object]]] = {}
    for rec in records:
        by_name.setdefault(str(rec["name"]), []).append(rec)
    ordered = []
    for index, name in enumerate(names):
        recs = by_name.get(name)
        rec = recs.pop(0) if recs else {"name": name, "outcome": "error", "message": "test did not report a result"}
        ordered.append({"index": index, **rec})
    return {"file": os.path.basename(path), "tests": ordered, "error": None}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("file")
    args = parser.parse_args(argv)
    try:
        payload = run(args.file, args.url)
    except Exception:  # noqa: BLE001 - the file could not be loaded or the suite blew up
        payload = {"file": os.path.basename(args.file), "tests": [], "error": traceback.format_exc()}
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(payload, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
