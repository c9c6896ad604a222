"""``python -m runbooks``: write the runbook pages; ``--check``: only say which are stale (exit 1)."""

from __future__ import annotations

import sys

from engines.process import write_atomic
from runbooks.markdown import pages


def main(argv: list[str]) -> int:
    stale = [path for path, text in pages().items() if not path.exists() or path.read_text() != text]
    if "--check" in argv:
        for path in stale:
            print(f"stale: {path} (run `python -m runbooks`)")
        return 1 if stale else 0
    for path, text in pages().items():
        write_atomic(path, text)
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
