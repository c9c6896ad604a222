"""enginewatch: enginewatch."""
