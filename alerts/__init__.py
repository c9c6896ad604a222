"""enginewatch: alerts."""
