"""enginewatch: exporters."""
