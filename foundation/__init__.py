"""The bottom layer: one client each for Prometheus, the orchestrator, the gateway's admin API (query
history, kill) and Loki, the Prometheus tools, the deployment config, the duration grammar, PromQL
building and parsing, owned child processes, and the JSON log lines every process writes (logs.py).

Every other package may import this one; it imports only the metric contract (exporters.contract).
"""
