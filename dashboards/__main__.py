"""``python -m dashboards build|lint``: the same commands as ``enginewatch dashboards``."""

from dashboards.cli import app

app(prog_name="python -m dashboards")
