"""Make datasets available offline-safe (the DVC prepare stages).

    python -m subspacelab.pipeline.prepare mnist [fashion_mnist ...]
    python -m subspacelab.pipeline.prepare --corpus python_stdlib --tokenizer bpe --vocab-size 1024

A text corpus is prepared with its tokenizer (trained on the training split, cached) and its token ids;
the provenance file ``data/raw/tokenizers/<corpus>-<tokenizer><vocab>.provenance.json`` is what the
language-model runs depend on.
"""

from __future__ import annotations

import argparse
import sys

from subspacelab.data import DATASETS, DataUnavailableError, prepare_dataset


def run(names: list[str], root: str = "data/raw", mirror: str | None = None) -> dict:
    return {name: prepare_dataset(name, root, mirror) for name in names}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("datasets", nargs="*", help=f"image datasets: {', '.join(sorted(DATASETS))}")
    ap.add_argument(
        "--corpus", help="a text corpus (see subspacelab.data.text.CORPORA, or hf:<name>[:<config>])"
    )
    ap.add_argument("--tokenizer", default="bpe", choices=["bpe", "byte"])
    ap.add_argument("--vocab-size", type=int, default=2048)
    ap.add_argument("--root", default="data/raw")
    ap.add_argument("--mirror", default=None, help="offline mirror (default: $SUBSPACELAB_DATA_MIRROR)")
    args = ap.parse_args(argv)
    if not args.datasets and not args.corpus:
        ap.error("name datasets or a --corpus")
    unknown = sorted(set(args.datasets) - set(DATASETS))
    if unknown:
        ap.error(f"unknown dataset {unknown[0]!r}; valid: {', '.join(sorted(DATASETS))}")
    try:
        for name, prov in run(args.datasets, args.root, args.mirror).items():
            print(
                f"[prepare] {name}: {prov['source']}"
                + ("" if prov.get("exact", True) else f" ({prov['note']})")
            )
        if args.corpus:
            from subspacelab.data.text import prepare_corpus

            prov = prepare_corpus(args.corpus, args.root, args.mirror, args.tokenizer, args.vocab_size)
            print(
                f"[prepare] {args.corpus}: {args.tokenizer} tokenizer, vocab {args.vocab_size}, "
                f"{prov.get('n_train_tokens')} training tokens"
            )
    except DataUnavailableError as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
