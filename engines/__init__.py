"""enginewatch: engines."""
