"""enginewatch: dashboards."""
