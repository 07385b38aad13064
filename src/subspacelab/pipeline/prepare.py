"""Make datasets available offline-safe (the DVC prepare stages).

    python -m subspacelab.pipeline.prepare mnist [fashion_mnist ...]
    python -m subspacelab.pipeline.prepare --corpus python_stdlib --tokenizer bpe --vocab-size 1024
    python -m subspacelab.pipeline.prepare --mat cora orl

A ``.mat`` benchmark (attributed graphs, image sets of subspace clustering) is read in place from the mirror;
its prepare stage hashes it into ``data/raw/mat/<name>.provenance.json`` (DVC runs that stage every time,
and the runs that read the file depend on that record, so a changed file re-runs them).

A text corpus is prepared with its tokenizer (trained on the training split, cached) and its token ids;
the provenance file ``data/raw/tokenizers/<corpus>-<tokenizer><vocab>.provenance.json`` is what the
language-model runs depend on.

An image dataset's record holds the size and SHA-256 of every raw and extracted file; ``exact`` is true
only when they are the published ones. Exit codes: 1 when the data cannot be had (no network, no mirror),
2 when a file fails its checksum (a corrupt copy in ``data/raw`` or in the mirror): the one-line message
names the file, both hashes and the fix.
"""

from __future__ import annotations

import argparse
import sys

from subspacelab.data import DATASETS, DataUnavailableError, prepare_dataset
from subspacelab.data.integrity import DataIntegrityError


def run(names: list[str], root: str = "data/raw", mirror: str | None = None) -> dict:
    return {name: prepare_dataset(name, root, mirror) for name in names}


def mat_record(name: str, root: str = "data/raw", mirror: str | None = None) -> dict:
    """Hash one ``.mat`` benchmark where the loaders read it; write its provenance record."""
    from pathlib import Path

    from subspacelab.clustering.graphs import MAT_GRAPHS, sha256
    from subspacelab.clustering.graphs import how_to_get as graph_help
    from subspacelab.clustering.images import MAT_IMAGES
    from subspacelab.clustering.images import how_to_get as image_help
    from subspacelab.data.mirror import mirror_root
    from subspacelab.pipeline.runinfo import write_json

    table, help_for = (MAT_GRAPHS, graph_help) if name in MAT_GRAPHS else (MAT_IMAGES, image_help)
    rel, digest, source = table[name]
    base = mirror_root(mirror)
    path = base / rel if base is not None else None
    if path is None or not path.is_file():
        raise DataUnavailableError(help_for(name))
    measured = sha256(path)
    prov = {
        "dataset": name,
        "path": rel,
        "source": source,
        "sha256": measured,
        "sha256_expected": digest,
        "exact": measured == digest,
    }
    write_json(Path(root) / "mat" / f"{name}.provenance.json", prov)
    return prov


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("datasets", nargs="*", help=f"image datasets: {', '.join(sorted(DATASETS))}")
    ap.add_argument(
        "--corpus", help="a text corpus (see subspacelab.data.text.CORPORA, or hf:<name>[:<config>])"
    )
    ap.add_argument("--tokenizer", default="bpe", choices=["bpe", "byte"])
    ap.add_argument("--vocab-size", type=int, default=2048)
    ap.add_argument("--mat", nargs="*", default=[], help="`.mat` benchmarks to hash (graphs and image sets)")
    ap.add_argument("--root", default="data/raw")
    ap.add_argument("--mirror", default=None, help="offline mirror (default: $SUBSPACELAB_DATA_MIRROR)")
    args = ap.parse_args(argv)
    if not args.datasets and not args.corpus and not args.mat:
        ap.error("name datasets, a --corpus or --mat benchmarks")
    unknown = sorted(set(args.datasets) - set(DATASETS))
    if unknown:
        ap.error(f"unknown dataset {unknown[0]!r}; valid: {', '.join(sorted(DATASETS))}")
    try:
        for name, prov in run(args.datasets, args.root, args.mirror).items():
            print(
                f"[prepare] {name}: {prov['source']}"
                + ("" if prov.get("exact", True) else f" ({prov['note']})")
            )
        for name in args.mat:
            prov = mat_record(name, args.root, args.mirror)
            print(
                f"[prepare] {name}: {prov['path']} sha256 {prov['sha256'][:12]}"
                + ("" if prov["exact"] else f" (differs from the MANIFEST's {prov['sha256_expected'][:12]})")
            )
        if args.corpus:
            from subspacelab.data.text import prepare_corpus

            prov = prepare_corpus(args.corpus, args.root, args.mirror, args.tokenizer, args.vocab_size)
            print(
                f"[prepare] {args.corpus}: {args.tokenizer} tokenizer, vocab {args.vocab_size}, "
                f"{prov.get('n_train_tokens')} training tokens"
            )
    except (DataUnavailableError, DataIntegrityError) as err:  # user errors: say what to do, exit 2
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
