"""enginewatch: chaos."""
