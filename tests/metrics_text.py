"""Read a Prometheus text exposition in tests: one sample's value by name and labels."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families


class Scrape:
    def __init__(self, text: str) -> None:
        self.samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
        self.families: set[str] = set()
        for family in text_string_to_metric_families(text):
            self.families.add(family.name)
            for s in family.samples:
                self.samples[(s.name, frozenset(s.labels.items()))] = s.value

    def value(self, name: str, /, **labels: str) -> float:
        """The sample's value; 0 when absent (a labelled counter appears on first use)."""
        return self.samples.get((name, frozenset(labels.items())), 0.0)

    def total(self, name: str, /, **labels: str) -> float:
        """Sum over every sample of ``name`` whose labels include ``labels``."""
        want = set(labels.items())
        return sum(v for (n, ls), v in self.samples.items() if n == name and want <= ls)

    def delta(self, before: Scrape, name: str, /, **labels: str) -> float:
        return self.value(name, **labels) - before.value(name, **labels)
