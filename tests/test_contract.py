"""The metric contract: well-formed, documented, and the doc up to date."""

import re

import pytest

from exporters import contract as c
from exporters.contract_doc import DOC_PATH, render

NAME = re.compile(r"^[a-z_][a-z0-9_]*$")


def test_docs_metrics_md_is_up_to_date() -> None:
    assert DOC_PATH.read_text() == render(), "run: python -m exporters.contract_doc"


@pytest.mark.parametrize("metric", c.ALL, ids=lambda m: m.name)
def test_metric_follows_conventions(metric: c.Metric) -> None:
    assert NAME.match(metric.name)
    assert metric.help.endswith(".")
    if metric.kind == "counter":
        assert metric.name.endswith("_total")
    else:
        assert not metric.name.endswith("_total")
    if metric.kind == "histogram":
        assert metric.buckets and list(metric.buckets) == sorted(metric.buckets)
        assert metric.name.endswith("_seconds")
    if metric.unit == "seconds":  # a counter of seconds is ..._seconds_total
        assert metric.name.removesuffix("_total").endswith("_seconds")
    if metric.unit == "bytes":
        assert "_bytes" in metric.name
    for label, values in metric.label_values.items():
        assert label in metric.labels
        assert values, f"{label} must list its bounded values"
    # Topology comes from service discovery, never from the node's own series.
    if metric.component == "node":
        assert not set(metric.labels) & set(c.TOPOLOGY_LABELS)


def test_user_and_platform_errors_are_disjoint() -> None:
    assert not set(c.USER_ERROR_TYPES) & set(c.PLATFORM_ERROR_TYPES)
    assert c.PLATFORM_ERRORS_RE.split("|") == list(c.PLATFORM_ERROR_TYPES)


def test_histogram_series_names_are_derived() -> None:
    assert c.QUERY_DURATION.bucket == "engine_query_duration_seconds_bucket"
    assert c.QUERY_ERRORS.client_name == "engine_query_errors"
    with pytest.raises(ValueError):
        _ = c.QUERY_ERRORS.bucket
