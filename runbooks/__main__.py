"""``python -m runbooks``: write the runbook pages; ``--check``: only say which are stale (exit 1)."""

from __future__ import annotations

import argparse
import sys

from foundation.process import write_atomic
from runbooks.markdown import pages


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m runbooks", description="Write the generated runbook pages.")
    parser.add_argument("--check", action="store_true", help="only list stale files (exit 1 when any)")
    argv = ["--check"] if parser.parse_args(argv).check else []
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
