"""The interleaved timer and the ratio intervals of bench/timing.py, and the README section writer of
bench/projections.py (the benchmark behind the projection targets)."""

import importlib.util
import math
import random
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _load(name: str):
    sys.path.insert(0, str(BENCH))
    try:
        spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(BENCH))


timing = _load("timing")


def test_median_interval_uses_the_binomial_ranks():
    # n = 100 at 95%: the classical ranks 40 and 61 (P(Bin(100, 1/2) <= 39) = 0.018 <= 0.025 < P(<= 40)).
    xs = [float(i) for i in range(1, 101)]
    random.Random(0).shuffle(xs)
    assert timing.median_interval(xs) == (40.0, 50.5, 61.0)


def test_median_interval_of_a_tiny_sample_is_its_range():
    assert timing.median_interval([3.0, 1.0, 2.0]) == (1.0, 2.0, 3.0)


def test_median_interval_covers_the_true_median_at_least_as_often_as_promised():
    rng = random.Random(1)
    hits = 0
    for _ in range(2000):
        lo, _, hi = timing.median_interval([rng.expovariate(1.0) for _ in range(31)])
        hits += lo <= math.log(2) <= hi
    assert hits / 2000 >= 0.94


def test_paired_ratio_of_an_exact_double_is_two_with_no_spread():
    base = [1.0, 3.0, 2.0, 5.0, 4.0, 2.5, 1.5]
    r = timing.paired_ratio(base, [2 * b for b in base])
    assert (r["low"], r["ratio"], r["high"], r["pairs"]) == (2.0, 2.0, 2.0, 7)


def test_paired_ratio_refuses_unpaired_lists():
    with pytest.raises(ValueError, match="equally long"):
        timing.paired_ratio([1.0, 2.0], [1.0])


class FakeClock:
    """A clock that the timed functions advance by known amounts."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_interleaved_times_alternates_the_order_and_keeps_the_fastest_repeat():
    clock, calls = FakeClock(), []
    costs = {"a": iter([9.0] * 2 + [5.0, 1.0, 3.0] * 4), "b": iter([9.0] * 2 + [4.0, 7.0, 2.0] * 4)}

    def make(name):
        def fn():
            calls.append(name)
            clock.now += next(costs[name])

        return fn

    times = timing.interleaved_times(
        {"a": make("a"), "b": make("b")}, rounds=4, warmup=2, repeats=3, clocks={"fake": clock}
    )
    assert times == {"fake": {"a": [1.0] * 4, "b": [2.0] * 4}}
    timed = calls[4:]  # after two warm-up rounds of one call each
    assert (
        timed == ["a"] * 3 + ["b"] * 3 + ["b"] * 3 + ["a"] * 3 + ["a"] * 3 + ["b"] * 3 + ["b"] * 3 + ["a"] * 3
    )


def test_the_readme_section_between_the_markers_is_replaced_and_nothing_else(tmp_path):
    bench = _load("projections")
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{bench.README_START}\nold table\n{bench.README_END}\noutro\n")
    assert bench.update_readme(readme, "new table")
    assert readme.read_text() == f"intro\n{bench.README_START}\nnew table\n{bench.README_END}\noutro\n"
    other = tmp_path / "OTHER.md"
    other.write_text("no markers\n")
    assert not bench.update_readme(other, "new table")
    assert other.read_text() == "no markers\n"
