"""enginewatch: slo."""
