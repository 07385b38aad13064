"""grassmann_flows: the matched control (attention without positions), and the derive rules on hand-made rows."""

import math

import pytest
import torch
from omegaconf import OmegaConf

from subspacelab.config import compose
from subspacelab.models.lm import build_llama
from subspacelab.papers.grassmann_flows.claims import RULES, gap
from subspacelab.papers.grassmann_flows.common import mixer
from subspacelab.pipeline.runinfo import fingerprint
from subspacelab.reporting.verdict import NOT, NOT_RUN, PARTLY, REPRODUCED

TINY = {"hidden_size": 32, "intermediate_size": 64, "num_layers": 1, "num_heads": 2, "max_seq_len": 16}


def test_attention_without_positions_has_the_same_weights_and_ignores_order():
    rope, nope = build_llama(0, 64, **TINY), build_llama(0, 64, mixer="attention_nope", **TINY)
    assert all(
        torch.equal(a, b) for a, b in zip(rope.state_dict().values(), nope.state_dict().values(), strict=True)
    )
    x = torch.randint(0, 64, (1, 10), generator=torch.Generator().manual_seed(1))
    shuffled = torch.cat(
        [x[:, torch.randperm(9, generator=torch.Generator().manual_seed(2))], x[:, 9:]], dim=1
    )
    with torch.no_grad():
        # one layer without positions: the last token's output depends on the set of earlier tokens only
        last = [m(input_ids=t).logits[0, -1] for m in (nope, rope) for t in (x, shuffled)]
        assert torch.allclose(last[0], last[1], atol=1e-5)
        assert not torch.allclose(last[2], last[3], atol=1e-5)
        # still causal: changing a later token leaves earlier outputs alone
        y = x.clone()
        y[0, 7] = (y[0, 7] + 1) % 64
        assert torch.allclose(nope(input_ids=x).logits[0, :7], nope(input_ids=y).logits[0, :7], atol=1e-6)


def test_the_mixer_option_leaves_recorded_fingerprints_alone():
    cfg = compose(["paper=grassmann_flows", "scale=cpu", "model=llama", "seed=0"])
    assert cfg.model.mixer == "attention"
    without = OmegaConf.create(OmegaConf.to_container(cfg))
    del without.model["mixer"]  # a run recorded before the option existed
    assert fingerprint(cfg) == fingerprint(without)
    nope = compose(
        [
            "paper=grassmann_flows",
            "scale=cpu",
            "model=llama",
            "model.mixer=attention_nope",
            "model.tag=llama128x4-nope",
            "seed=0",
        ]
    )
    assert nope.run_name == "python_stdlib-llama128x4-nope-full-s0" and fingerprint(nope) != fingerprint(cfg)


def _rows(ppl: dict[str, list[float]]) -> list[dict]:
    tags = {"attention": "llama128x4", "attention_nope": "llama128x4-nope", "grassmann": "grassmann128x4-r16"}
    return [{"model": tags[m], "seed": s, "val_ppl": v} for m, vs in ppl.items() for s, v in enumerate(vs)]


CLAIM = {
    "derive": {"rule": "ppl_gap", "control": "attention_nope", "reproduced_below": 0.15, "partly_below": 0.30}
}


def test_mixer_is_read_from_the_run_tag():
    assert [mixer(r) for r in _rows({"attention": [1], "attention_nope": [1], "grassmann": [1]})] == [
        "attention",
        "attention_nope",
        "grassmann",
    ]


def test_ppl_gap_is_judged_against_the_matched_control_with_a_paired_interval():
    rows = _rows({"attention": [30, 31, 29], "attention_nope": [40, 41, 39], "grassmann": [44, 45.1, 42.9]})
    m, verdict, note = RULES["ppl_gap"](CLAIM, rows)
    assert verdict == REPRODUCED and m["judged_against"] == "attention_nope" and m["n"] == 3
    assert m["gap"] == pytest.approx(0.10, abs=1e-9) and m["rope_gap"] == pytest.approx(44 / 30 - 1, abs=1e-9)
    assert "n=3" in m["value"] and "attention_nope" in note
    # the same mean gap with noisy seeds: the interval reaches past 15%, so only partly
    noisy = _rows({"attention": [30, 30, 30], "attention_nope": [40, 40, 40], "grassmann": [42, 50, 40]})
    m, verdict, _ = RULES["ppl_gap"](CLAIM, noisy)
    assert m["gap"] == pytest.approx(0.10) and m["interval"]["hi"] > 0.15 and verdict == PARTLY
    # a gap past 30%: not reproduced
    assert (
        RULES["ppl_gap"](CLAIM, _rows({"attention_nope": [40, 41, 39], "grassmann": [60, 61, 59]}))[1] == NOT
    )


def test_ppl_gap_without_the_control_or_with_one_seed_is_at_most_partly():
    small = _rows({"attention": [40, 41, 39], "grassmann": [44, 45.1, 42.9]})
    m, verdict, note = RULES["ppl_gap"](CLAIM, small)
    assert verdict == PARTLY and m["judged_against"] == "attention" and "matched control not yet run" in note
    large = _rows({"attention": [30, 31, 29], "grassmann": [50, 52, 49]})
    assert RULES["ppl_gap"](CLAIM, large)[1] == NOT
    one = _rows({"attention_nope": [40], "grassmann": [42]})
    m, verdict, note = RULES["ppl_gap"](CLAIM, one)
    assert verdict == PARTLY and "one seed" in note
    assert RULES["ppl_gap"](CLAIM, _rows({"grassmann": [40]}))[1] == NOT_RUN


def test_gap_pairs_seeds():
    rows = _rows({"attention": [10, 20], "grassmann": [11, 24]})
    g = gap(rows, "attention")
    assert g["seed_gaps"] == pytest.approx([0.1, 0.2]) and g["gap"] == pytest.approx(35 / 30 - 1)


def _timing(slopes: dict[str, float], noise: dict[str, list[float]] | None = None) -> list[dict]:
    lens = [512, 1024, 2048, 4096]
    rows = []
    for m, k in slopes.items():
        for i, n in enumerate(lens):
            jitter = math.exp((noise or {}).get(m, [0] * 4)[i])
            rows.append(
                {
                    "kind": "analysis",
                    "mixer": m,
                    "seq_len": n,
                    "seconds": 1e-3 * (n / 512) ** k * jitter,
                    "slope_from": 512,
                }
            )
    return rows


SLOPE = {"derive": {"rule": "scaling_slope", "linear_max": 1.15, "partly_max": 1.3}}


def test_scaling_slope_uses_the_interval():
    m, verdict, _ = RULES["scaling_slope"](SLOPE, _timing({"grassmann": 1.0, "attention": 2.0}))
    assert verdict == REPRODUCED and m["grassmann_slope"]["slope"] == pytest.approx(1.0)
    assert m["difference"]["slope"] == pytest.approx(1.0)
    # linear, but attention no steeper beyond noise: partly
    same = _timing({"grassmann": 1.0, "attention": 1.05}, {"attention": [0.0, 0.2, -0.2, 0.0]})
    m, verdict, note = RULES["scaling_slope"](SLOPE, same)
    assert m["difference"]["lo"] < 0 < m["difference"]["hi"] and verdict == PARTLY and "exclude 0" in note
    # a slope of 1.0 on average whose interval reaches past 1.15: partly
    noisy = _timing({"grassmann": 1.0, "attention": 2.0}, {"grassmann": [0.0, 0.3, -0.3, 0.1]})
    m, verdict, _ = RULES["scaling_slope"](SLOPE, noisy)
    assert m["grassmann_slope"]["hi"] > 1.15 and verdict == PARTLY
    assert RULES["scaling_slope"](SLOPE, _timing({"grassmann": 1.6, "attention": 2.0}))[1] == NOT
    assert RULES["scaling_slope"](SLOPE, [])[1] == NOT_RUN


def test_snli_head_is_not_implemented():
    m, verdict, note = RULES["not_run"]({"derive": {"rule": "not_run"}}, [])
    assert verdict == NOT_RUN and m["value"] is None and "not implemented" in note
