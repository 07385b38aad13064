"""Diffusion spectral entropy / mutual information of a network's representation, recorded during training.

Liao, Liu et al. 2023, "Assessing Neural Network Representations During Training Using Noise-Resilient
Diffusion Spectral Entropy" (arXiv 2312.04823). The measurement protocol follows the official training script
``src/main_studies/training_dynamic/01_train_embeddings.py`` (function ``validate_epoch``):

- a fixed probe set of held-out images X with their true labels Y is pushed through the network in eval mode;
- Z is the encoder output, i.e. the input of the final linear classifier (the penultimate layer);
- DSE(Z), DSMI(Z; Y) with the class labels, and DSMI(Z; X) with the inputs, X made discrete **once** (before
  training) by spectral clustering into 10 clusters and the same clusters reused at every epoch; the classic
  binned counterparts CSE(Z), CSMI(Z; Y), CSMI(Z; X) alongside;
- one measurement before training ("epoch 0") and one after every training epoch.

The estimators themselves live in ``subspacelab.analysis.information``; this module only gathers the data and
calls them. Under DDP each rank pushes its share of the probe rows through its network (rank 0's batch-norm
statistics first copied to every rank, the parameters being identical) and the rows are gathered in probe order
(``trainer.strategy.all_gather``), so every rank measures the whole probe set, as one process does. ``DiffusionEntropyCallback`` is a Lightning callback; ``representation_measures`` is the plain
function it calls (usable without Lightning).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import lightning as L
import numpy as np
import torch
from torch import nn

from subspacelab.analysis.capture import capture_activations
from subspacelab.analysis.information import (
    classic_shannon_entropy,
    diffusion_spectral_entropy,
    diffusion_spectral_mutual_information,
    reference_clusters,
)

__all__ = [
    "DiffusionEntropyCallback",
    "penultimate_layer",
    "representation_measures",
    "representation_scale",
]


def penultimate_layer(model: nn.Module) -> str:
    """Name of the module whose output feeds the model's last ``nn.Linear`` (the "encoder output" Z).

    Leaf modules are taken in registration order, which for the project's Sequential backbones (MLP, LeNet,
    ConvNet) is the forward order: e.g. ``classifier.4`` (the ReLU after LeNet's 84-unit layer). Raises if the
    model has no linear layer or the linear layer comes first.
    """
    leaves = [(name, m) for name, m in model.named_modules() if name and not list(m.children())]
    linear = [i for i, (_, m) in enumerate(leaves) if isinstance(m, nn.Linear)]
    if not linear or linear[-1] == 0:
        raise ValueError("model has no linear output layer preceded by another module")
    return leaves[linear[-1] - 1][0]


def representation_scale(z) -> float:
    """Root-mean-square distance of the points to their mean, sqrt(mean_i ||z_i - mean(z)||^2).

    DSE uses a fixed kernel bandwidth sigma, so it is not scale invariant; this number is recorded next to it
    to show how much of a change in DSE could come from the representation growing or shrinking.
    """
    zt = torch.as_tensor(np.asarray(z) if not isinstance(z, torch.Tensor) else z, dtype=torch.float64)
    zt = zt.reshape(zt.shape[0], -1)
    return float((zt - zt.mean(dim=0)).pow(2).sum(dim=1).mean().sqrt())


def representation_measures(
    z,
    y,
    x_clusters=None,
    *,
    sigma: float = 10.0,
    t: int = 1,
    drop_trivial: bool = False,
    num_repetitions: int = 5,
    num_bins_per_dim: int = 2,
    classic: bool = True,
    seed: int = 0,
) -> dict[str, float]:
    """DSE(Z), DSMI(Z; Y) and (when ``x_clusters`` is given) DSMI(Z; X), in bits; CSE/CSMI too if ``classic``.

    z: (N, D) representations; y: (N,) integer labels; x_clusters: (N,) cluster ids of the inputs.
    sigma, t, drop_trivial: the DSE settings (official ``api/dse.py`` as called by the paper's training script:
        sigma 10, t 1, every eigenvalue kept; an older api/dse.py dropped the top one).
    Also returns ``z_scale`` (``representation_scale``).
    """
    zt = torch.as_tensor(np.asarray(z) if not isinstance(z, torch.Tensor) else z, dtype=torch.float64)
    zt = zt.reshape(zt.shape[0], -1)
    labels = np.asarray(y).reshape(-1).astype(np.int64)
    kw = {
        "sigma": sigma,
        "t": t,
        "drop_trivial": drop_trivial,
        "num_repetitions": num_repetitions,
        "seed": seed,
        "num_bins_per_dim": num_bins_per_dim,
    }
    out = {
        "dse_z": diffusion_spectral_entropy(zt, sigma, t, drop_trivial=drop_trivial),
        "dsmi_zy": diffusion_spectral_mutual_information(zt, None, clusters=labels, entropy="dse", **kw),
        "z_scale": representation_scale(zt),
    }
    if x_clusters is not None:
        out["dsmi_zx"] = diffusion_spectral_mutual_information(
            zt, None, clusters=x_clusters, entropy="dse", **kw
        )
    if classic:
        out["cse_z"] = classic_shannon_entropy(zt.numpy(), num_bins_per_dim)
        out["csmi_zy"] = diffusion_spectral_mutual_information(zt, None, clusters=labels, entropy="cse", **kw)
        if x_clusters is not None:
            out["csmi_zx"] = diffusion_spectral_mutual_information(
                zt, None, clusters=x_clusters, entropy="cse", **kw
            )
    return out


class DiffusionEntropyCallback(L.Callback):
    """Record DSE/DSMI of one layer's output on a fixed probe set before training and after every epoch.

    probe: an iterable of ``(x, y)`` batches, re-iterated at each measurement in the same order (e.g. an
        unshuffled DataLoader).
    layer: name of the representation layer, resolved with ``pl_module.get_submodule`` (e.g.
        ``"net.module.classifier.4"``). The module's own output (the logits) is captured too, for the probe
        accuracy.
    n_clusters: clusters of the flattened probe inputs for DSMI(Z; X) (spectral clustering, computed once at the
        first measurement, ``reference_clusters(..., seed=cluster_seed)``); 0 skips DSMI(Z; X).
    measure_initial: also measure at ``on_train_start`` (epoch 0, before any update), as the official script.
    scale_control: also record ``dse_z_fixed_scale``, DSE of Z rescaled to the RMS spread Z had at the first
        measurement (our control, not in the paper: DSE's fixed sigma makes it grow when Z merely grows).

    ``records`` holds one dict per measurement: epoch, the measures of ``representation_measures``, probe_acc,
    train_acc (the epoch's running training accuracy if the module has a ``train_acc`` metric; None at epoch 0)
    and seconds (time spent measuring).
    """

    def __init__(
        self,
        probe: Iterable[Any],
        layer: str,
        *,
        sigma: float = 10.0,
        t: int = 1,
        drop_trivial: bool = False,
        num_repetitions: int = 5,
        num_bins_per_dim: int = 2,
        n_clusters: int = 10,
        cluster_seed: int = 0,
        classic: bool = True,
        measure_initial: bool = True,
        scale_control: bool = True,
        seed: int = 0,
    ):
        super().__init__()
        self.probe, self.layer = probe, layer
        self.settings = {
            "sigma": sigma,
            "t": t,
            "drop_trivial": drop_trivial,
            "num_repetitions": num_repetitions,
            "num_bins_per_dim": num_bins_per_dim,
            "classic": classic,
            "seed": seed,
        }
        self.n_clusters, self.cluster_seed = int(n_clusters), int(cluster_seed)
        self.measure_initial = measure_initial
        self.scale_control = scale_control
        self.reference_scale: float | None = None
        self.x_clusters: np.ndarray | None = None
        self.records: list[dict[str, Any]] = []

    # -- data ---------------------------------------------------------------------------------

    def _labels_and_inputs(self) -> tuple[np.ndarray, np.ndarray]:
        ys, xs = [], []
        for x, y in self.probe:
            ys.append(torch.as_tensor(y).reshape(-1))
            xs.append(torch.as_tensor(x).reshape(len(ys[-1]), -1).double())
        return torch.cat(ys).numpy(), torch.cat(xs).numpy()

    def _clusters(self) -> np.ndarray | None:
        if self.n_clusters <= 0:
            return None
        if self.x_clusters is None:
            _, x = self._labels_and_inputs()
            self.x_clusters = reference_clusters(x, self.n_clusters, discrete=False, seed=self.cluster_seed)
        return self.x_clusters

    # -- measuring ------------------------------------------------------------------------------

    def _activations(self, pl_module: nn.Module, trainer=None) -> dict[str, torch.Tensor]:
        """The representation and the logits of every probe row, in probe order (gathered over ranks)."""
        targets = {"z": pl_module.get_submodule(self.layer), "logits": pl_module}
        world = trainer.world_size if trainer is not None else 1
        if world == 1:
            return capture_activations(pl_module, targets, self.probe)
        batches = list(self.probe)
        x = torch.cat([torch.as_tensor(b[0]) for b in batches])
        size = max(len(batches[0][0]), 1)
        rows = -(-len(x) // world)  # rows per rank; the last rank's share padded with rows of the probe
        idx = torch.arange(trainer.global_rank * rows, (trainer.global_rank + 1) * rows) % len(x)
        _copy_rank_zero_buffers(pl_module)
        mine = [x[idx[i : i + size]] for i in range(0, rows, size)]
        acts = capture_activations(pl_module, targets, mine)
        out = {}
        for name, a in acts.items():
            gathered = trainer.strategy.all_gather(a.to(pl_module.device).contiguous())  # (world, rows, ...)
            out[name] = gathered.reshape(world * rows, *a.shape[1:])[: len(x)].cpu()
        return out

    def measure(
        self, pl_module: nn.Module, epoch: int, train_acc: float | None = None, trainer=None
    ) -> dict[str, Any]:
        """One record (see the class doc). ``trainer``: the fitting Trainer, for the DDP ranks (None: one process)."""
        started = time.perf_counter()
        clusters = self._clusters()
        acts = self._activations(pl_module, trainer)
        y, _ = self._labels_and_inputs()
        rec: dict[str, Any] = {"epoch": int(epoch)}
        rec.update(representation_measures(acts["z"], y, clusters, **self.settings))
        if self.scale_control:
            if self.reference_scale is None:
                self.reference_scale = rec["z_scale"]
            factor = self.reference_scale / rec["z_scale"] if rec["z_scale"] > 0 else 1.0
            rec["dse_z_fixed_scale"] = diffusion_spectral_entropy(
                acts["z"].double().reshape(len(y), -1) * factor,
                self.settings["sigma"],
                self.settings["t"],
                drop_trivial=self.settings["drop_trivial"],
            )
        rec["probe_acc"] = float((acts["logits"].argmax(dim=1).numpy() == y).mean())
        rec["train_acc"] = train_acc
        rec["seconds"] = time.perf_counter() - started
        self.records.append(rec)
        return rec

    def on_train_start(self, trainer, pl_module):
        if self.measure_initial and not self.records:
            self.measure(pl_module, 0, trainer=trainer)

    def on_train_epoch_end(self, trainer, pl_module):
        metric = getattr(pl_module, "train_acc", None)
        train_acc = None
        if metric is not None and getattr(metric, "update_count", 1) > 0:
            train_acc = float(metric.compute())
        self.measure(pl_module, trainer.current_epoch + 1, train_acc, trainer=trainer)


def _copy_rank_zero_buffers(module: nn.Module) -> None:
    """Rank 0's buffers (batch-norm running statistics) on every rank: plain DDP broadcasts them only at the
    start of a training forward, so after the last step each rank holds its own update."""
    for b in module.buffers():
        torch.distributed.broadcast(b.data, src=0)
