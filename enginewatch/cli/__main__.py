"""``python -m enginewatch.cli``: the same as the ``enginewatch`` command."""

from enginewatch.cli.main import main

main()
