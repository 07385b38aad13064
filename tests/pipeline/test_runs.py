"""A run's fingerprint hashes what determines its result (the contract's claims and prose do not); the
entry point refuses bad input in one line before DVC starts."""

from omegaconf import open_dict

from subspacelab.config import compose
from subspacelab.pipeline.runinfo import fingerprint


def test_editing_a_claim_leaves_a_training_runs_fingerprint_alone():
    cfg = compose(["paper=intrinsic_dimension", "scale=smoke", "model=fc", "method.d=50"])
    before = fingerprint(cfg)
    with open_dict(cfg):
        cfg.paper.claims = [{"id": "new", "statement": "edited"}]
        cfg.paper.title = "another title"
    assert fingerprint(cfg) == before
    assert fingerprint(cfg, keep_contract=True) != fingerprint(
        compose(["paper=intrinsic_dimension", "scale=smoke", "model=fc", "method.d=50"]), keep_contract=True
    )


def test_a_result_bearing_setting_changes_it():
    base = ["paper=intrinsic_dimension", "scale=smoke", "model=fc"]
    assert fingerprint(compose([*base, "method.d=50"])) != fingerprint(compose([*base, "method.d=60"]))
    assert fingerprint(compose([*base, "seed=0"])) != fingerprint(compose([*base, "seed=1"]))
    assert fingerprint(compose([*base, "logger=csv"])) == fingerprint(compose([*base, "logger=wandb"]))


def test_reproduce_refuses_an_unknown_paper_or_scale_in_one_line(capsys):
    import pytest

    from subspacelab.pipeline import reproduce

    for argv, key in (
        (["--paper", "no_such_paper"], "PAPER: "),
        (["--paper", "dse", "--scale", "huge"], "SCALE: "),
    ):
        with pytest.raises(SystemExit) as stop:
            reproduce.main(argv)
        err = capsys.readouterr().err
        assert stop.value.code == 2 and err.startswith(key) and len(err.strip().splitlines()) == 1
