"""enginewatch: exporters."""

from exporters.golden import QueryServiceMetrics, render  # noqa: F401  (the golden-signals library)

# Re-exported so that processes write `from exporters import setup_tracing`, not the module path.
from exporters.tracing import (  # noqa: F401
    current_trace_id,
    extract_context,
    get_tracer,
    inject_headers,
    setup_tracing,
    shutdown_tracing,
)
