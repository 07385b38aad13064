"""``make show-config`` prints the config a run will really use (contract settings applied); ``make papers`` lists
every registered paper."""

import pytest
import yaml

from subspacelab.papers import registry
from subspacelab.pipeline import show


def test_show_config_applies_the_contract_then_the_overrides(capsys):
    show.main(["config", "--paper", "intrinsic_dimension", "--scale", "cpu", "model=lenet", "method.d=500"])
    cfg = yaml.safe_load(capsys.readouterr().out)
    assert (
        cfg["data"]["train_size"] == 20000 and cfg["trainer"]["max_epochs"] == 5
    )  # the cpu scale's settings
    assert cfg["model"]["arch"] == "lenet" and cfg["method"]["d"] == 500  # then the overrides
    assert cfg["paper"] == {"id": "intrinsic_dimension"}  # no claims in a run's config


def test_show_config_refuses_an_unknown_paper_in_one_line(capsys):
    with pytest.raises(SystemExit) as stop:
        show.main(["config", "--paper", "nope"])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and err.startswith("PAPER: ") and len(err.strip().splitlines()) == 1


def test_papers_lists_every_registered_paper(capsys):
    show.main(["papers"])
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == list(registry.PAPER_IDS)
    assert all("at cpu scale" in line for line in lines)  # all 20 have a committed cpu report
