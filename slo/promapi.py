"""Kept only because slo/service imports ``MAX_POINTS`` from here: the Prometheus client of the
project is ``enginewatch.promapi``; import from there."""

from enginewatch.promapi import MAX_POINTS, PrometheusClient, PrometheusUnavailable, Sample, Series, finite

__all__ = ["MAX_POINTS", "PrometheusClient", "PrometheusUnavailable", "Sample", "Series", "finite"]
