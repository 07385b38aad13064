"""convergent_learning: the derive rules on hand-made analysis rows (trained pairs against controls, layers
against each other, groups against units, the sparse mapping's fan-in)."""

from subspacelab.papers.convergent_learning.claims import RULES
from subspacelab.reporting.verdict import NOT, NOT_RUN, PARTLY, REPRODUCED


def _row(data, layer, pair, control, r, g=0.5, sparse=None):
    row = {
        "kind": "analysis",
        "data": data,
        "layer": layer,
        "pair": pair,
        "control": control,
        "matched_r": r,
        "semi_matched_r": r,
        "frac_matched_above_0.9": 0.0,
        "group_similarity": g,
        "units": 8,
    }
    if sparse is not None:
        row["sparse"] = sparse
    return row


def _layer(layer, trained, control, g_trained=None, g_control=None, data="mnist", sparse=None):
    """Three trained pairs and three trained-vs-untrained controls of one layer."""
    g_trained, g_control = g_trained or [0.5] * 3, g_control or [0.5] * 3
    pairs = ["trained0-trained1", "trained0-trained2", "trained1-trained2"]
    rows = [
        _row(data, layer, p, False, r, g, sparse) for p, r, g in zip(pairs, trained, g_trained, strict=True)
    ]
    return rows + [
        _row(data, layer, f"trained{i}-untrained{i}", True, r, g)
        for i, (r, g) in enumerate(zip(control, g_control, strict=True))
    ]


FIRST = {"derive": {"layer": "conv1", "min_matched_r": 0.8, "min_margin_over_control": 0.1}}


def test_first_layer_needs_the_difference_to_the_control_beyond_noise():
    clear = _layer("conv1", [0.92, 0.93, 0.94], [0.60, 0.62, 0.58])
    m, verdict, _ = RULES["cl_first_layer"](FIRST, clear)
    assert verdict == REPRODUCED and "n=3 pairs" in m["value"]
    high_bar = {"derive": {**FIRST["derive"], "min_matched_r": 0.95}}
    assert RULES["cl_first_layer"](high_bar, clear)[1] == PARTLY
    # the same mean margin (0.14) with a noisy control: the interval includes 0, so not even partly
    noisy = _layer("conv1", [0.90, 0.85, 0.95], [0.50, 0.95, 0.80])
    m, verdict, note = RULES["cl_first_layer"](FIRST, noisy)
    assert m["mnist"]["difference"]["lo"] < 0 and verdict == NOT and "beyond noise" in note
    assert RULES["cl_first_layer"](FIRST, [])[1] == NOT_RUN


def test_first_layer_with_one_pair_is_at_most_partly():
    rows = [
        _row("mnist", "conv1", "trained0-trained1", False, 0.95),
        _row("mnist", "conv1", "trained0-untrained0", True, 0.5),
    ]
    assert RULES["cl_first_layer"](FIRST, rows)[1] == PARTLY


DEEPER = {"derive": {"first": "conv1", "deeper": ["fc"]}}


def test_deeper_layers_match_less_by_paired_differences():
    rows = _layer("conv1", [0.9, 0.8, 0.85], [0.5] * 3) + _layer("fc", [0.5, 0.4, 0.45], [0.2] * 3)
    assert RULES["cl_deeper_less"](DEEPER, rows)[1] == REPRODUCED
    # lower on average (by 0.08), but one pair goes the other way and the interval includes 0
    rows = _layer("conv1", [0.9, 0.8, 0.85], [0.5] * 3) + _layer("fc", [0.86, 0.5, 0.95], [0.2] * 3)
    m, verdict, note = RULES["cl_deeper_less"](DEEPER, rows)
    assert verdict == PARTLY and "noise" in note
    rows = _layer("conv1", [0.5, 0.4, 0.45], [0.5] * 3) + _layer("fc", [0.9, 0.8, 0.85], [0.2] * 3)
    assert RULES["cl_deeper_less"](DEEPER, rows)[1] == NOT


SHARED = {"derive": {"layer": "fc", "min_margin": 0.1}}


def test_shared_subspaces_against_units_and_control():
    both = _layer(
        "fc", [0.40, 0.42, 0.38], [0.3] * 3, g_trained=[0.65, 0.66, 0.64], g_control=[0.50, 0.52, 0.48]
    )
    assert RULES["cl_shared_subspaces"](SHARED, both)[1] == REPRODUCED
    units_only = _layer(
        "fc", [0.40, 0.42, 0.38], [0.3] * 3, g_trained=[0.65, 0.66, 0.64], g_control=[0.40, 0.90, 0.66]
    )
    assert RULES["cl_shared_subspaces"](SHARED, units_only)[1] == PARTLY
    neither = _layer("fc", [0.40, 0.42, 0.38], [0.3] * 3, g_trained=[0.45, 0.46, 0.44], g_control=[0.5] * 3)
    assert RULES["cl_shared_subspaces"](SHARED, neither)[1] == NOT


def test_sparse_mapping_reads_the_fan_in_off_the_pair_averaged_curve():
    claim = {"derive": {"layer": "conv1", "max_fan_in": 4, "max_r2_drop": 0.05}}

    def curve(fan_in_at_01):
        return [
            {"alpha": 0.01, "r2": 0.95, "mean_fan_in": 20},
            {"alpha": 0.1, "r2": 0.93, "mean_fan_in": fan_in_at_01},
        ]

    assert (
        RULES["cl_sparse_mapping"](claim, _layer("conv1", [0.9] * 3, [0.5] * 3, sparse=curve(3)))[1]
        == REPRODUCED
    )
    assert (
        RULES["cl_sparse_mapping"](claim, _layer("conv1", [0.9] * 3, [0.5] * 3, sparse=curve(7)))[1] == PARTLY
    )
    m, verdict, _ = RULES["cl_sparse_mapping"](claim, _layer("conv1", [0.9] * 3, [0.5] * 3, sparse=curve(12)))
    assert verdict == NOT and m["best_fan_in"] == {"mnist": 12}
