"""What a run will use and what the project holds, before anything runs.

    python -m subspacelab.pipeline.show config --paper P [--scale S] [override ...]   # make show-config
    python -m subspacelab.pipeline.show papers                                      # make papers

``config`` prints the composed config of one run exactly as ``subspacelab.train`` will run it: the Hydra
defaults, then the contract's settings for the scale, then the overrides (the contract's claims left out).
``papers`` lists every registered paper with its cpu-scale status and paper-claim counts.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from omegaconf import OmegaConf


def run_config(paper: str, scale: str, overrides: list[str]) -> str:
    from subspacelab.config import compose

    cfg = compose([f"paper={paper}", f"scale={scale}", *overrides])
    plain = OmegaConf.to_container(cfg, resolve=True)
    plain["paper"] = {k: plain["paper"][k] for k in ("id", "kind") if k in plain["paper"]}
    return OmegaConf.to_yaml(OmegaConf.create(plain))


def papers_table(root: Path = Path(".")) -> str:
    from subspacelab.papers import registry
    from subspacelab.pipeline.readme import status

    lines = []
    for paper in registry.PAPER_IDS:
        state, summary = status(root / "reports" / paper / "comparison.json")
        lines.append(f"{paper:28s} {state.replace('**', ''):22s} {summary}")
    return "\n".join(lines)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="what", required=True)
    c = sub.add_parser("config", help="the composed config of one run")
    c.add_argument("--paper", required=True)
    c.add_argument("--scale", default="cpu")
    c.add_argument("overrides", nargs="*")
    sub.add_parser("papers", help="every paper with its status")
    args = ap.parse_args(argv)
    if args.what == "papers":
        print(papers_table())
        return
    from subspacelab.config import ConfigError
    from subspacelab.papers import registry

    if args.paper not in registry.PAPER_IDS:
        print(f"PAPER: unknown paper {args.paper!r}; valid: {', '.join(registry.PAPER_IDS)}", file=sys.stderr)
        raise SystemExit(2)
    try:
        print(run_config(args.paper, args.scale, args.overrides), end="")
    except ConfigError as err:
        print(f"invalid config: {err}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
