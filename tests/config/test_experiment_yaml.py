"""conf/experiment/<id>.yaml is written from the paper's Experiment dataclass (config/experiment_yaml.py): the
values read back equal the dataclass defaults, comments travel with their fields, and a drift is found."""

from __future__ import annotations

import dataclasses
import math
import textwrap
from dataclasses import dataclass, field
from typing import ClassVar

import pytest
from hypothesis import given
from hypothesis import strategies as st
from omegaconf import OmegaConf

from subspacelab.config import experiment_yaml as EY
from subspacelab.config.compose import CONF_DIR

PAPERS = EY.experiment_papers()


def test_every_experiment_paper_is_found():
    contracts = [p for p in (CONF_DIR / "paper").glob("*.yaml") if "kind: experiment" in p.read_text()]
    assert set(PAPERS) == {p.stem for p in contracts}
    assert {"mlc", "s2cag", "hf_dsc", "dcreg"} <= set(PAPERS)


@pytest.mark.parametrize("paper", sorted(PAPERS))
def test_committed_yaml_is_the_dataclass_rendered(paper):
    cls, target = PAPERS[paper]
    committed = (CONF_DIR / "experiment" / f"{paper}.yaml").read_text()
    assert committed == EY.render(cls, target), f"run make experiment-yaml ({paper})"


@pytest.mark.parametrize("paper", sorted(PAPERS))
def test_yaml_reads_back_as_the_dataclass_defaults(paper):
    cls, target = PAPERS[paper]
    loaded = OmegaConf.to_container(OmegaConf.load(CONF_DIR / "experiment" / f"{paper}.yaml"))
    assert loaded.pop("_target_") == target
    assert loaded.pop("tag") == cls.TAG
    defaults = {f.name: EY.default_of(f) for f in dataclasses.fields(cls)}
    assert loaded == defaults
    for name, value in defaults.items():  # 1 and 1.0 hash differently in a run's fingerprint
        assert type(loaded[name]) is type(value), name
    cls(**loaded)  # and builds the experiment


floats = st.floats(allow_nan=False, allow_infinity=True, width=64)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**12), 10**12),
    floats,
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=20),
)


@given(st.dictionaries(st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True), scalars, max_size=5))
def test_scalars_read_back_unchanged_in_block_and_flow_style(values):
    block = "\n".join(f"{EY.key(k)}: {EY.scalar(v)}" for k, v in values.items())
    flowed = f"x: {EY.flow(values)}"
    for loaded in (OmegaConf.to_container(OmegaConf.create(block or "{}")), OmegaConf.create(flowed).x):
        loaded = OmegaConf.to_container(loaded) if not isinstance(loaded, dict) else loaded
        assert set(loaded) == set(values)
        for k, v in values.items():
            assert type(loaded[k]) is type(v) and (loaded[k] == v or (isinstance(v, float) and math.isnan(v)))


def test_floats_are_written_as_people_write_them():
    assert [EY.scalar(v) for v in (1e-3, 2e-4, 0.5, 10.0, 1e6, 0.0)] == [
        "1.0e-3",
        "2.0e-4",
        "0.5",
        "10.0",
        "1.0e+6",
        "0.0",
    ]
    assert EY.scalar("${.dataset}") == "${.dataset}" and EY.flow(["${.a}"]) == "['${.a}']"
    assert [EY.key(k) for k in ("orl", "on", "no", "1")] == [
        "orl",
        "'on'",
        "'no'",
        "'1'",
    ]  # YAML 1.1 booleans


@dataclass
class Toy:
    """Toy study (Someone 2026).

    One run = one seed."""

    TAG: ClassVar[str] = "n${.n}"

    # --- data
    n: int = 10  # points [paper Table 1]
    lr: float = 1e-3  # [ours]
    # per-dataset settings
    table: dict = field(
        default_factory=lambda: {
            "mnist": {"k": 3, "alpha": 0.5},  # [code] run.sh
            "cifar10": {"k": 5, "alpha": 0.25, "extra_long_key_name": [1, 2, 3], "another_one": "x"},
        }
    )
    names: list[str] = field(default_factory=lambda: ["a", "b"])


def test_render_carries_the_docstring_comments_and_tag():
    text = EY.render(Toy, "tests.Toy")
    assert text == textwrap.dedent(
        """\
        # Toy study (Someone 2026).
        #
        # One run = one seed.
        # Generated from test_experiment_yaml.Toy by `make experiment-yaml`:
        # edit the dataclass, not this file.
        _target_: tests.Toy
        # --- data
        n: 10                       # points [paper Table 1]
        lr: 1.0e-3                  # [ours]
        # per-dataset settings
        table:
          mnist:   {k: 3, alpha: 0.5}                                                   # [code] run.sh
          cifar10: {k: 5, alpha: 0.25, extra_long_key_name: [1, 2, 3], another_one: x}
        names: [a, b]
        tag: n${.n}
        """
    ).replace("test_experiment_yaml.Toy", f"{Toy.__module__}.Toy")
    loaded = OmegaConf.to_container(OmegaConf.create(text))
    assert loaded["table"]["cifar10"]["extra_long_key_name"] == [1, 2, 3] and loaded["lr"] == 1e-3


def test_a_drifted_yaml_is_reported_and_rewritten(tmp_path):
    conf = tmp_path / "conf"
    (conf / "paper").mkdir(parents=True)
    (conf / "experiment").mkdir()
    (conf / "paper" / "mlc.yaml").write_text("kind: experiment\n")
    (conf / "paper" / "gcr.yaml").write_text("kind: training\n")  # not an experiment paper: ignored
    target = conf / "experiment" / "mlc.yaml"
    target.write_text(
        (CONF_DIR / "experiment" / "mlc.yaml").read_text().replace("n_train: 10000", "n_train: 9")
    )
    assert EY.stale(conf) == [target]
    assert EY.main.__module__ and EY.stale(conf, write=True) == [target]
    assert EY.stale(conf) == [] and "n_train: 10000" in target.read_text()
