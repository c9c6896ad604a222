"""enginewatch: runbooks."""
