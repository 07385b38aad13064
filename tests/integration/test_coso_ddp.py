"""CoSO under DDP (2 gloo processes on CPU): the optimizer acts on the all-reduced gradient, so the projector, the
sketch and the history are identical on every rank and equal to a single process on the full batch."""

import subprocess
import sys
import textwrap

import pytest
import torch

pytestmark = pytest.mark.usefixtures("one_thread")

SCRIPT = textwrap.dedent("""
    import os, sys, torch, torch.distributed as dist, torch.multiprocessing as mp
    from torch.nn.parallel import DistributedDataParallel as DDP
    from subspacelab.continual.coso import CoSO

    def data():
        g = torch.Generator().manual_seed(0)
        return torch.randn(2, 6, 32, 10, generator=g), torch.randn(2, 6, 32, 12, generator=g)  # task, step, batch

    def train(model, opt, X, Y, rank, world):
        lo, hi = rank * 32 // world, (rank + 1) * 32 // world
        for t in range(2):
            for s in range(6):
                opt.zero_grad()
                ((model(X[t, s, lo:hi]) - Y[t, s, lo:hi]) ** 2).mean().backward()
                opt.step()
            if t == 0:
                opt.end_task()
        w = (model.module if hasattr(model, "module") else model).weight
        return {"W": w.detach().clone(), "P": opt.projector(w).clone(), "M": opt.history(w).clone(),
                "S": opt.state[w]["sketch_sigma"].clone()}

    def make():
        torch.manual_seed(0)
        return torch.nn.Linear(10, 12, bias=False)

    def worker(rank, world, out):
        torch.set_num_threads(1)
        os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=sys.argv[2])
        dist.init_process_group("gloo", rank=rank, world_size=world)
        model = DDP(make())
        opt = CoSO(model.parameters(), lr=1e-2, proj_rank=3, sketch_rank=6, update_gap=2)
        X, Y = data()
        torch.save(train(model, opt, X, Y, rank, world), f"{out}/rank{rank}.pt")
        dist.destroy_process_group()

    if __name__ == "__main__":
        out = sys.argv[1]
        mp.spawn(worker, args=(2, out), nprocs=2, join=True)
        model = make()
        opt = CoSO(model.parameters(), lr=1e-2, proj_rank=3, sketch_rank=6, update_gap=2)
        X, Y = data()
        torch.save(train(model, opt, X, Y, 0, 1), f"{out}/single.pt")
""")


def test_ddp_ranks_share_projector_sketch_and_history(tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    script = tmp_path / "ddp_coso.py"
    script.write_text(SCRIPT)
    proc = subprocess.run(
        [sys.executable, str(script), str(tmp_path), str(port)],
        capture_output=True,
        text=True,
        timeout=240,
        env={**__import__("os").environ, "OMP_NUM_THREADS": "1"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    r0, r1, single = (
        torch.load(tmp_path / f, weights_only=True) for f in ("rank0.pt", "rank1.pt", "single.pt")
    )
    assert r0["M"].shape[1] > 0
    for key in ("W", "P", "M", "S"):
        assert torch.equal(r0[key], r1[key]), key  # identical on every rank
        # the mean of two half-batch means is the full-batch mean: same bases as one process (up to rounding)
        a, b = r0[key], single[key]
        if key in ("P", "M"):
            a, b = a @ a.T, b @ b.T  # compare subspaces (sign-free)
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)
