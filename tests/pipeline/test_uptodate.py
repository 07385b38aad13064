"""pipeline.uptodate: a reproduction is skipped only while no file it reads or writes changed since the last
successful one; any edit, new file, removal or touch there makes DVC decide again; other papers' runs do not."""

import os

from subspacelab.pipeline import uptodate


def _tree(root):
    for rel in (
        "src/subspacelab/a.py",
        "conf/paper/p.yaml",
        "params.yaml",
        "dvc.yaml",
        "pipelines/p/dvc.lock",
        "data/raw/mnist.provenance.json",
        "runs/p/cpu/r-s0/metrics.json",
        "reports/p/comparison.md",
        "runs/q/cpu/r-s0/metrics.json",
    ):
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(rel)


def test_unchanged_until_a_watched_file_changes(tmp_path):
    _tree(tmp_path)
    assert not uptodate.unchanged("p", "cpu", tmp_path)  # never reproduced
    uptodate.record("p", "cpu", tmp_path)
    assert uptodate.unchanged("p", "cpu", tmp_path)
    (tmp_path / "runs/q/cpu/r-s0/metrics.json").write_text("another paper's run")
    assert uptodate.unchanged("p", "cpu", tmp_path)
    assert not uptodate.unchanged("p", "smoke", tmp_path)  # each scale has its own stamp

    def changes(act):
        uptodate.record("p", "cpu", tmp_path)
        act()
        return not uptodate.unchanged("p", "cpu", tmp_path)

    src = tmp_path / "src/subspacelab/a.py"
    assert changes(lambda: src.write_text("edited"))
    assert changes(lambda: os.utime(src, ns=(1, 1)))  # same content, touched (a git checkout)
    assert changes(lambda: (tmp_path / "conf/paper/new.yaml").write_text("x"))
    assert changes(lambda: (tmp_path / "runs/p/cpu/r-s0/metrics.json").unlink())
    assert changes(lambda: (tmp_path / "pipelines/p/dvc.lock").write_text("re-recorded"))
    assert changes(lambda: (tmp_path / "reports/p/comparison.md").write_text("edited by hand"))
    assert not changes(lambda: (tmp_path / "src/subspacelab/__pycache__").mkdir())
    uptodate.stamp("p", "cpu", tmp_path).write_text("not json")
    assert not uptodate.unchanged("p", "cpu", tmp_path)


def test_a_dangling_link_in_a_run_is_taken_as_itself(tmp_path):
    """W&B leaves ``debug-internal.log`` links whose target may be gone: the signature reads the link, not its
    target, and a retargeted link counts as a change."""
    _tree(tmp_path)
    link = tmp_path / "runs/p/cpu/r-s0/debug-internal.log"
    link.symlink_to(tmp_path / "runs/p/cpu/r-s0/gone.log")
    uptodate.record("p", "cpu", tmp_path)
    assert uptodate.unchanged("p", "cpu", tmp_path)
    link.unlink()
    link.symlink_to(tmp_path / "runs/p/cpu/r-s0/another-target.log")
    assert not uptodate.unchanged("p", "cpu", tmp_path)
