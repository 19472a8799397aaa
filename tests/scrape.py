"""Reading a Prometheus scrape (``/metrics``) in tests. Importable by every test
(``tests/`` is on the tests' path)."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families


def total(text: str, name: str, **labels: str) -> float:
    """The sum of the samples ``name`` in a Prometheus scrape that carry ``labels``."""
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and labels.items() <= sample.labels.items()
    )
