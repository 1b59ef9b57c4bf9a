"""The JSON schema of a results document (``allotment.simulation/1``): what a reader such as the dashboard may rely on.

Readers must ignore fields they do not know: later versions of format 1 only add fields.
"""

from __future__ import annotations

from typing import Any

__all__ = ["RESULTS_SCHEMA", "SAMPLE_FIELDS", "SUMMARY_FIELDS", "validate_results"]

_NUM = {"type": "number"}
_INT = {"type": "integer", "minimum": 0}
_NUM_OR_NULL = {"type": ["number", "null"]}

SUMMARY_FIELDS: dict[str, Any] = {
    **{k: _INT for k in ("hosts", "arrivals", "placed", "refused", "departures", "alive_at_end", "host_failures",
                         "host_maintenances", "instances_lost", "evacuated", "evacuation_refused",
                         "final_hosts_empty")},
    **{k: _NUM for k in ("refusal_pct", "simulated_s", "sample_every_s", "setup_s", "wall_s", "mean_util_vcpu",
                         "peak_util_vcpu", "mean_util_memory", "final_util_vcpu", "final_util_memory",
                         "mean_stranded_vcpu_pct", "mean_stranded_memory_pct", "final_stranded_vcpu_pct",
                         "final_stranded_memory_pct")},
    **{k: _NUM_OR_NULL for k in ("placements_per_s", "decisions_per_s", "schedule_p50_ms", "schedule_p99_ms")},
}
SAMPLE_FIELDS: dict[str, Any] = {
    "t": _NUM,
    **{k: _INT for k in ("alive", "arrivals", "placed", "refused", "free_vcpu", "free_memory_mb", "stranded_vcpu",
                         "stranded_memory_mb", "hosts_in_service", "hosts_failed", "hosts_disabled", "hosts_empty")},
    **{k: {"type": "number", "minimum": 0, "maximum": 1} for k in ("util_vcpu", "util_memory", "util_disk")},
    **{k: {"type": "number", "minimum": 0, "maximum": 100} for k in ("stranded_vcpu_pct", "stranded_memory_pct")},
}


def _object(properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "required": sorted(properties), "properties": properties}


RESULTS_SCHEMA: dict[str, Any] = _object({
    "format": {"const": "allotment.simulation/1"},
    "created": {"type": "string"},
    "commit": {"type": ["string", "null"]},
    "seed": {"type": "integer"},
    "placement": {"type": "string"},
    "fleet": _object({"hosts": _INT, "vcpus": _INT, "memory_mb": _INT, "disk_gb": _INT,
                      "cpu_allocation_ratio": _NUM, "ram_allocation_ratio": _NUM, "disk_allocation_ratio": _NUM}),
    "flavors": {"type": "array", "minItems": 1, "items": _object(
        {"name": {"type": "string"}, "vcpus": _INT, "memory_mb": _INT, "disk_gb": _INT, "weight": _NUM})},
    "workload": {"type": "object", "required": ["kind", "arrivals"],
                 "properties": {"kind": {"enum": ["synthetic", "trace"]}, "arrivals": _INT}},
    "events": {"type": "array", "items": _object({"kind": {"enum": ["failure", "maintenance"]}, "at": _NUM,
                                                  "count": _INT, "duration": _NUM_OR_NULL})},
    "jobs": _INT,
    "wall_s": _NUM,
    "runs": {"type": "array", "items": {
        "type": "object",
        "required": ["label", "config", "summary", "refusals", "samples"],
        "properties": {
            "label": {"type": "string"},
            "config": _object({"host_subset_size": _INT, "max_placement_results": _INT,
                               "enabled_filters": {"type": "array", "items": {"type": "string"}},
                               "enabled_weighers": {"type": "array", "items": {"type": "string"}},
                               "weights": {"type": "object", "additionalProperties": _NUM}}),
            "summary": _object(SUMMARY_FIELDS),
            "refusals": {"type": "object", "additionalProperties": _INT},
            "samples": {"type": "array", "items": _object(SAMPLE_FIELDS)},
            "usage_mismatches": {"type": "array", "items": {"type": "string"}},
        },
    }},
})


def validate_results(document: Any) -> None:
    """Raise ``jsonschema.ValidationError`` if ``document`` is not a results document of format 1."""
    import jsonschema

    jsonschema.validate(document, RESULTS_SCHEMA)
