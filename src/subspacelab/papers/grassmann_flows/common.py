"""What the analysis, the claims and the figures share: which token mixer a run used."""

from __future__ import annotations

# The timed mixers (analysis) and every trained one (claims, figures).
TIMED = ("attention", "grassmann")
MIXERS = ("attention", "attention_nope", "grassmann")
LABELS = {
    "attention": "self-attention, rotary positions",
    "attention_nope": "self-attention, no positions",
    "grassmann": "Grassmann mixing",
}
NOPE_SUFFIX = "-nope"  # the control group's model.tag ends with it (conf/paper/grassmann_flows.yaml)


def mixer(row: dict) -> str:
    tag = str(row.get("model", ""))
    if tag.startswith("grassmann"):
        return "grassmann"
    return "attention_nope" if tag.endswith(NOPE_SUFFIX) else "attention"


def lm_runs(rows: list[dict]) -> list[dict]:
    return [r for r in rows if r.get("val_ppl") is not None]


def analysis_rows(rows: list[dict]) -> list[dict]:
    return [r for r in rows if r.get("kind") == "analysis"]
