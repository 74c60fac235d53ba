"""The ``dex1b`` command line (placeholder until hands are wired in)."""
import sys


def main(argv=None) -> int:
    print("dex1b: not wired yet", file=sys.stderr)
    return 1
