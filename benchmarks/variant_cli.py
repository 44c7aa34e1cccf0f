"""The command line shared by the variant timers (a1_variants, cnn_variants, names_variants)."""

from __future__ import annotations

import argparse
import sys


def parse_args(doc: str, steps: int | None = None) -> argparse.Namespace:
    """--repeats, --only, --hlo_dir (and --steps when given a default); then hides the script's
    flags from run.py, which parses its own at import."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    if steps is not None:
        parser.add_argument("--steps", type=int, default=steps)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--only", default="", help="comma-separated variants (default: all)")
    parser.add_argument("--hlo_dir", default="")
    args = parser.parse_args()
    sys.argv = sys.argv[:1]
    return args
