"""The SLO service: live error budgets as a JSON API and a status page, backtests on demand.

``python -m slo.service`` serves it; ``create_app`` builds the FastAPI application for embedding.
"""

from slo.service.app import ServiceConfig, create_app

__all__ = ["ServiceConfig", "create_app"]
