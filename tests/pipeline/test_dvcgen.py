"""dvcgen's stage commands survive the shell DVC runs them through."""

import subprocess

from subspacelab.pipeline.dvcgen import shell_safe


def test_a_dict_override_stays_one_shell_word():
    overrides = ["paper=x", "experiment.subsets={a:{b:1},c:{d:2}}", "experiment.sizes=[1,2]", "seed=0"]
    line = " ".join(shell_safe(o) for o in overrides)
    words = subprocess.run(
        ["bash", "-c", f"printf '%s\\n' {line}"], capture_output=True, text=True, check=True
    )
    assert words.stdout.splitlines() == overrides
    assert shell_safe("seed=0") == "seed=0"  # commands without braces are written as before
