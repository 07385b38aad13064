"""``python -m subspacelab.pipeline.prepare mnist [fashion_mnist ...]``: make datasets available offline-safe."""

from __future__ import annotations

import argparse
import sys

from subspacelab.data import DATASETS, DataUnavailableError, prepare_dataset


def run(names: list[str], root: str = "data/raw", mirror: str | None = None) -> dict:
    return {name: prepare_dataset(name, root, mirror) for name in names}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("datasets", nargs="+", choices=sorted(DATASETS))
    ap.add_argument("--root", default="data/raw")
    ap.add_argument("--mirror", default=None, help="offline mirror (default: $SUBSPACELAB_DATA_MIRROR)")
    args = ap.parse_args(argv)
    try:
        for name, prov in run(args.datasets, args.root, args.mirror).items():
            print(f"[prepare] {name}: {prov['source']}" + ("" if prov.get("exact", True) else f" ({prov['note']})"))
    except DataUnavailableError as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
