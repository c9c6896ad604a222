"""``python -m alerts``: write the generated rule, test and Alertmanager files; ``--check``: only say
which are stale (exit 1), as CI does."""

from __future__ import annotations

import argparse
import sys

from alerts.generate import stale, write_all


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m alerts",
                                     description="Write the generated rule, test and Alertmanager files.")
    parser.add_argument("--check", action="store_true", help="only list stale files (exit 1 when any)")
    argv = ["--check"] if parser.parse_args(argv).check else []
    if "--check" in argv:
        outdated = stale()
        for path in outdated:
            print(f"stale: {path} (run `python -m alerts`)")
        return 1 if outdated else 0
    for path in write_all():
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
