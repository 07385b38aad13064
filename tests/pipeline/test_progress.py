"""Progress of a pipeline: run k of N, [done]/[skip] with times, and the time left from the runs trained so far;
DVC's stage lines turned into those lines (on recorded DVC output, a fake clock: no timing)."""

import io

from subspacelab.pipeline.progress import Progress, duration
from subspacelab.pipeline.reproduce import DvcFollower


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_the_eta_is_the_mean_trained_run_times_the_runs_left_and_skips_do_not_count():
    clock, out = Clock(), io.StringIO()
    p = Progress(4, clock=clock, out=out)
    assert p.eta() is None
    p.start("a")
    clock.now += 0.2
    p.finish(skipped=True)  # a finished run found again: no time, no estimate yet
    assert p.eta() is None
    p.start("b")
    clock.now += 10
    p.finish()
    assert p.eta() == 2 * 10
    p.start("c")
    clock.now += 30
    p.finish()
    assert p.eta() == 1 * 20
    p.start("d")
    clock.now += 20
    p.finish()
    assert out.getvalue().splitlines() == [
        "[reproduce] run 1 of 4: a",
        "[reproduce] [skip] a (1/4) in 0.2 s",
        "[reproduce] run 2 of 4: b",
        "[reproduce] [done] b (2/4) in 10 s; about 20 s left",
        "[reproduce] run 3 of 4: c",
        "[reproduce] [done] c (3/4) in 30 s; about 20 s left",
        "[reproduce] run 4 of 4: d",
        "[reproduce] [done] d (4/4) in 20 s",
    ]


def test_durations_read_naturally():
    assert [duration(s) for s in (3.25, 42, 185, 7620)] == ["3.2 s", "42 s", "3 min 05 s", "2 h 07 min"]


DVC_OUTPUT = [
    "Stage 'prepare@mnist' didn't change, skipping\n",
    "Stage 'pipelines/p/dvc.yaml:train@smoke-r1' didn't change, skipping\n",
    "Running stage 'pipelines/p/dvc.yaml:train@smoke-r2':\n",
    "> python -m subspacelab.train paper=p scale=smoke\n",
    "epoch 1\r",
    "[done] runs/p/smoke/r2: test acc 0.5 in 3.0s\n",
    "Updating lock file 'pipelines/p/dvc.lock'\n",
    "\n",
    "Running stage 'pipelines/p/dvc.yaml:evaluate-smoke':\n",
    "> python -m subspacelab.pipeline.evaluate --paper p --scale smoke\n",
    "Running stage 'pipelines/p/dvc.yaml:report-smoke':\n",
]


def test_dvc_stage_lines_become_progress_lines_and_the_rest_passes_through():
    out = io.StringIO()
    follower = DvcFollower(Progress(2, clock=Clock(), out=out), out=out)
    for line in DVC_OUTPUT:
        follower.line(line)
    follower.end(ok=True)
    lines = out.getvalue().splitlines()
    said = [line for line in lines if line.startswith("[reproduce]")]
    assert [s.split(" in ")[0] for s in said] == [
        "[reproduce] stage prepare@mnist",
        "[reproduce] [skip] prepare@mnist",
        "[reproduce] run 1 of 2: smoke-r1",
        "[reproduce] [skip] smoke-r1 (1/2)",
        "[reproduce] run 2 of 2: smoke-r2",
        "[reproduce] [done] smoke-r2 (2/2)",
        "[reproduce] stage evaluate-smoke",
        "[reproduce] [done] evaluate-smoke",
        "[reproduce] stage report-smoke",
        "[reproduce] [done] report-smoke",
    ]
    assert "> python -m subspacelab.train paper=p scale=smoke" in lines
    assert "epoch 1\r" in out.getvalue()  # a line redrawn in place is passed on unchanged
    assert not any("Running stage" in line or "didn't change" in line for line in lines)


def test_a_failed_dvc_run_marks_the_running_stage_failed():
    out = io.StringIO()
    follower = DvcFollower(Progress(1, clock=Clock(), out=out), out=out)
    follower.line("Running stage 'pipelines/p/dvc.yaml:train@cpu-r1':\n")
    follower.end(ok=False)
    assert out.getvalue().splitlines()[-1].startswith("[reproduce] [failed] cpu-r1 (1/1)")


def test_dvcs_restatement_of_a_stage_user_error_is_dropped_and_remembered():
    """A stage that exits 2 has printed its one-line user error; DVC's closing ERROR line restating the command is
    dropped (``reproduce`` then exits 2). Any other line, other failures' ERROR lines included, passes on."""
    from subspacelab.pipeline.reproduce import relay_stderr

    user = (
        "error: mnist is not in data/raw; point SUBSPACELAB_DATA_MIRROR at shared/datasets\n"
        "ERROR: failed to reproduce 'prepare@mnist': failed to run: python -m subspacelab.pipeline.prepare mnist, "
        "exited with 2\n"
    )
    crash = "Traceback (most recent call last):\nERROR: failed to reproduce 'train@cpu-s0': failed to run: x, exited with 1\n"
    for text, dropped in ((user, True), (crash, False)):
        out = io.StringIO()
        thread, seen = relay_stderr(io.BytesIO(text.encode()), out)
        thread.join()
        assert seen.is_set() == dropped
        kept = text.splitlines(keepends=True)[:1] if dropped else text.splitlines(keepends=True)
        assert out.getvalue() == "".join(kept)
