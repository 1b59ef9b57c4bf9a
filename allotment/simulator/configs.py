"""Scheduler configurations to compare, written ``spread``, ``pack:host_subset_size=5`` or ``FILE.toml[:...]``."""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from allotment.scheduler.config import DEFAULT_WEIGHTS, SchedulerConfig, load_scheduler_config

__all__ = ["PRESETS", "ConfigError", "SimConfig", "parse_config"]


class ConfigError(ValueError):
    """A configuration spec that cannot be read; the message says which part."""


# Spread fills the emptiest host first (Nova's default, positive multipliers); pack the fullest.
PRESETS: dict[str, dict[str, float]] = {
    "spread": {"ram_weight_multiplier": 1.0, "cpu_weight_multiplier": 1.0, "disk_weight_multiplier": 1.0},
    "pack": {"ram_weight_multiplier": -1.0, "cpu_weight_multiplier": -1.0, "disk_weight_multiplier": -1.0},
}
_INT_OPTIONS = {f.name for f in fields(SchedulerConfig) if f.type in ("int", int)}
_ALIASES = {"subset": "host_subset_size"}


@dataclass(frozen=True)
class SimConfig:
    label: str
    config: SchedulerConfig

    def describe(self) -> dict[str, Any]:
        c = self.config
        return {"host_subset_size": c.host_subset_size, "max_placement_results": c.max_placement_results,
                "enabled_filters": list(c.enabled_filters), "enabled_weighers": list(c.enabled_weighers),
                "weights": dict(c.weights)}


def parse_config(spec: str) -> SimConfig:
    """``BASE[:KEY=VALUE,...]``: BASE is a preset (spread, pack) or a TOML file with a [scheduler] table.

    KEY is a weight multiplier (``ram_weight_multiplier``), an integer option of
    ``[scheduler]`` (``host_subset_size``, alias ``subset``; ``max_placement_results``) or
    ``shuffle_best_same_weighed_hosts``.
    """
    base, _, options = spec.partition(":")
    if base in PRESETS:
        weights = {**DEFAULT_WEIGHTS, **PRESETS[base]}
        config = SchedulerConfig(weights=weights)
    elif base.endswith(".toml"):
        if not Path(base).is_file():
            raise ConfigError(f"configuration {spec!r}: no file {base}")
        try:
            config = load_scheduler_config(base)
        except (ValueError, OSError) as exc:
            raise ConfigError(f"configuration {spec!r}: {exc}") from None
    else:
        raise ConfigError(f"configuration {spec!r}: start with {' or '.join(PRESETS)} or a FILE.toml")
    for item in filter(None, options.split(",")):
        key, eq, value = item.partition("=")
        key = _ALIASES.get(key.strip(), key.strip())
        if not eq:
            raise ConfigError(f"configuration {spec!r}: {item!r} is not KEY=VALUE")
        try:
            if key in DEFAULT_WEIGHTS:
                config.weights[key] = float(value)
            elif key in _INT_OPTIONS:
                setattr(config, key, int(value))
            elif key == "shuffle_best_same_weighed_hosts":
                config.shuffle_best_same_weighed_hosts = value.strip().lower() in ("1", "true", "yes")
            else:
                raise ConfigError(f"configuration {spec!r}: unknown option {key!r} "
                                  f"(weight multipliers, host_subset_size, max_placement_results, ...)")
        except ValueError as exc:
            if isinstance(exc, ConfigError):
                raise
            raise ConfigError(f"configuration {spec!r}: {key}: {exc}") from None
    if config.host_subset_size < 1:
        raise ConfigError(f"configuration {spec!r}: host_subset_size must be >= 1")
    return SimConfig(spec, config)
