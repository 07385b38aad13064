"""``reporting.arm_tables``: the arms' table holds each column's seed mean ± sd (population sd, as ``arm_stats``),
a dash where an arm has no value, and the formatter a column asks for."""

from subspacelab.reporting.arm_tables import arm_table, count_mean_sd, seeds_of

ROWS = [
    {"seed": 0, "results": [{"arm": "a", "acc": 0.5, "size": 1000}, {"arm": "b", "acc": 0.25}]},
    {"seed": 1, "results": [{"arm": "a", "acc": 0.7, "size": 3000}, {"arm": "b", "acc": 0.25}]},
]


def test_the_table_holds_mean_and_sd_per_arm_and_column():
    lines = arm_table(ROWS, ["a", "b"], ["acc", "size"], {"size": count_mean_sd}, first="method")
    assert lines == [
        "| method | acc | size |",
        "|---|---|---|",
        "| a | 0.600 ± 0.100 | 2,000 ± 1,000 |",
        "| b | 0.250 ± 0.000 | - |",
    ]
    assert seeds_of(ROWS, ["a", "b"], "size") == 2 and seeds_of(ROWS, ["b"], "size") == 0
