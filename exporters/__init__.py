"""enginewatch: exporters."""

from exporters.tracing import (
    current_trace_id,
    extract_context,
    get_tracer,
    inject_headers,
    setup_tracing,
    shutdown_tracing,
)
