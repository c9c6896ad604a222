"""The bottom layer: one client each for Prometheus and the orchestrator, the Prometheus tools, the
deployment config, the duration grammar, PromQL building and parsing, and owned child processes.

Every other package may import this one; it imports only the metric contract (exporters.contract).
"""
