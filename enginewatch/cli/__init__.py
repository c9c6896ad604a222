"""The ``enginewatch`` command line: every verb, and one way to refuse a user mistake (exit 2)."""

from enginewatch.cli.main import app, main

__all__ = ["app", "main"]
