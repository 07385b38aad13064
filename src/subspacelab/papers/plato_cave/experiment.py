"""What one run of plato_cave computes: for one seed, two encoders of two "modalities" of the same MNIST digits,
each self-trained alone (through Lightning) with no cross-modal signal, then post-hoc alignment of their feature
spaces from paired anchors, judged by matching and retrieval of held-out pairs.

Modalities (``data.digit_modalities``): a 2-D point cloud of the digit's ink (the "3D shape") and a generated
caption naming its class and coarse stroke attributes (the "text"). Encoders (``models.point_text``): a PointNet
trained to predict which quarter-turn its cloud was given (rotation prediction) and a caption MLP trained to
recover one masked word (masked-word prediction), each on its own random subset of the training split.

Alignment (``analysis.alignment``), text to shape, fitted on ``anchors`` training pairs, judged on ``queries``
test pairs: ``none`` (cosine of the raw features), ``affine`` (least squares, full spaces), ``cca_affine`` (CCA
onto k canonical directions, then the affine map), ``local_cka`` and ``cca_local_cka`` (the local-CKA score
without and with the CCA projection), and two controls of ours: ``cca_cosine`` (cosine in the canonical space, no
affine map) and ``pca_affine`` (each space onto its own top-k principal directions, then the affine map: the
dimension cut without cross-modal information). Scores: Hungarian matching accuracy, top-1 and top-5 retrieval of
the shape from its caption. Also: linear CKA of the raw spaces, a sweep over k and over the anchor count, and
probes of what the shape's canonical subspace and its orthogonal complement hold (class vs the cloud's scale).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch

from subspacelab.analysis import alignment as al
from subspacelab.configurable import require
from subspacelab.data import digit_modalities as dm
from subspacelab.experiments.harness import trial_seed

ARMS = ("none", "affine", "cca_affine", "cca_cosine", "pca_affine", "local_cka", "cca_local_cka")
REDUCED = ("cca_affine", "cca_cosine", "pca_affine", "cca_local_cka")  # the arms that take a k
HELD_OUT = 2000  # objects after each encoder's training subset that score its pretext task


@dataclass
class Experiment:
    """plato_cave: one run = one seed: both encoders self-trained, then every alignment arm at the default k, the
    k sweep and the anchor sweep (module doc). Tags: [paper] read in the paper (through a review with its table and
    figures: see the contract); [ours] chosen for cpu scale."""

    TAG: ClassVar[str] = "mnist"  # the run's name in its run_dir (the seed is appended)

    data_root: str = "data/raw"
    points: int = 64  # [ours] points per cloud
    caption_length: int = 10  # [ours] word slots (the longest caption has 9 words)
    p_attribute: float = 0.8  # [ours] chance that a caption names each stroke attribute
    # --- the uni-modal encoders, each self-trained on its own random subset of the training split [ours]
    feature_dim: int = 64  # both encoders' feature size (the paper's 3D encoders give 512)
    ssl_train: int = 20000
    epochs: int = 3
    batch_size: int = 128
    lr: float = 1.0e-3  # Adam
    # --- the alignment
    anchors: int = 4000  # [paper: 30,000 anchors for 512-d features; ours: as many per dimension]
    queries: int = 500  # [paper] query pairs matched and retrieved per run
    k: int = 8  # [paper: k = 50 of 512 dimensions; ours: the power of two nearest that fraction of 64]
    k_sweep: list[int] = field(default_factory=lambda: [2, 4, 8, 16, 32, 64])  # [paper Fig. 4: k up to full]
    anchor_sweep: list[int] = field(
        default_factory=lambda: [250, 500, 1000, 2000, 4000, 8000]
    )  # [paper Fig. 5 sweeps 1k-30k anchors]
    ridge: float = 1.0e-6  # [ours] CCA ridge, a fraction of the mean variance (the paper names none)
    probe_test: int = 2000  # [ours] test objects the subspace probes are scored on

    def __post_init__(self):
        for name in (
            "points",
            "caption_length",
            "feature_dim",
            "ssl_train",
            "epochs",
            "batch_size",
            "queries",
        ):
            require(int(getattr(self, name)) >= 1, f"experiment.{name}", "must be >= 1")
        require(0 <= self.p_attribute <= 1, "experiment.p_attribute", "must be in [0, 1]")
        require(self.lr > 0, "experiment.lr", "must be > 0")
        dims = [("k", self.k), *((f"k_sweep[{i}]", k) for i, k in enumerate(self.k_sweep))]
        for name, value in dims:
            require(1 <= int(value) <= self.feature_dim, f"experiment.{name}", "must be in 1..feature_dim")
        require(self.k in self.k_sweep, "experiment.k", "must be one of experiment.k_sweep")
        for name, values in (("anchors", [self.anchors]), ("anchor_sweep", self.anchor_sweep)):
            require(
                all(self.feature_dim < int(a) <= 50000 for a in values),
                f"experiment.{name}",
                "need more anchors than feature_dim and at most 50,000",
            )
        require(2 <= self.queries <= 5000, "experiment.queries", "must be in 2..5000")
        require(self.probe_test >= self.queries, "experiment.probe_test", "must be >= experiment.queries")

    # --- the encoders -----------------------------------------------------------------------------------------

    def train_encoders(self, clouds, held_clouds, ids, held_ids, seed: int, out_dir: Path, trainer=None):
        """(shape encoder, caption encoder, their pretext accuracies on the held-out objects): each trained alone,
        the PointNet on ``clouds`` turned by random quarter turns, the caption encoder on ``ids`` with one word
        masked."""
        from subspacelab.lit.classifier import fit_classifier
        from subspacelab.models.point_text import CaptionEncoder, PointNetEncoder

        words = len(dm.vocabulary())
        rng = np.random.default_rng(trial_seed(seed, "plato_cave", "pretext"))
        turned, turns = dm.rotate_quarters(clouds, rng)
        masked, targets = dm.mask_one_word(ids, rng)
        torch.manual_seed(trial_seed(seed, "plato_cave", "init-shape"))
        shape = PointNetEncoder(4, feature_dim=self.feature_dim)
        torch.manual_seed(trial_seed(seed, "plato_cave", "init-text"))
        text = CaptionEncoder(words, words, feature_dim=self.feature_dim)
        common = {"epochs": self.epochs, "batch_size": self.batch_size, "lr": self.lr, "trainer": trainer}
        fit_classifier(
            shape,
            turned,
            turns,
            4,
            seed=trial_seed(seed, "plato_cave", "fit-shape"),
            out_dir=out_dir / "shape",
            **common,
        )
        fit_classifier(
            text,
            masked,
            targets,
            words,
            seed=trial_seed(seed, "plato_cave", "fit-text"),
            out_dir=out_dir / "text",
            **common,
        )
        with torch.no_grad():
            xs, ts = dm.rotate_quarters(held_clouds, rng)
            xt, wt = dm.mask_one_word(held_ids, rng)
            pretext = {
                "rotation_accuracy": float(shape(xs).argmax(1).eq(ts).float().mean()),
                "masked_word_accuracy": float(text(xt).argmax(1).eq(wt).float().mean()),
            }
        return shape, text, pretext

    # --- the run ----------------------------------------------------------------------------------------------

    def objects(self, images: np.ndarray, labels: np.ndarray, bins: dm.Bins, rng: np.random.Generator):
        """(clouds, their scale factors, caption word ids) of each image."""
        clouds, scale = dm.point_clouds(images, self.points, rng)
        caps = dm.captions(labels, bins.assign(dm.stroke_measures(images)), rng, self.p_attribute)
        return torch.as_tensor(clouds), scale, dm.encode(caps, dm.vocabulary(), self.caption_length)

    def run(self, seed: int, out_dir: Path, n_jobs: int = 1, trainer=None) -> dict:
        from subspacelab.data.vision import load_split, prepare_dataset
        from subspacelab.lit.fit import world_size

        torch.set_num_threads(1)  # tiny networks: a second thread only adds hand-off waits on a busy machine
        prepare_dataset("mnist", self.data_root)
        xtr, ytr = load_split("mnist", self.data_root, train=True)
        xte, yte = load_split("mnist", self.data_root, train=False)
        xtr, xte = xtr[:, 0].double().numpy() / 255, xte[:, 0].double().numpy() / 255
        ytr, yte = ytr.numpy(), yte.numpy()
        bins = dm.Bins.fit(dm.stroke_measures(xtr[:10000]))  # quantile edges of the attribute words

        # each encoder trains on its own random subset; anchors come from a third draw; queries from the test split
        def draw(*key, n: int):
            return np.random.default_rng(trial_seed(seed, "plato_cave", *key)).permutation(n)

        subset = {m: draw("subset", m, n=len(xtr))[: self.ssl_train + HELD_OUT] for m in ("shape", "text")}
        pool = draw("anchors", n=len(xtr))[: max(self.anchors, *self.anchor_sweep)]
        need = np.unique(np.concatenate([*subset.values(), pool]))  # objects are built for these only
        rng = np.random.default_rng(trial_seed(seed, "plato_cave", "objects"))
        clouds, _, ids = self.objects(xtr[need], ytr[need], bins, rng)
        at = {m: np.searchsorted(need, idx) for m, idx in (*subset.items(), ("pool", pool))}
        s, t = at["shape"], at["text"]
        shape, text, pretext = self.train_encoders(
            clouds[s[: self.ssl_train]],
            clouds[s[self.ssl_train :]],
            ids[t[: self.ssl_train]],
            ids[t[self.ssl_train :]],
            seed,
            Path(out_dir),
            trainer,
        )
        test = draw("queries", n=len(xte))[: self.probe_test]
        t_clouds, t_scale, t_ids = self.objects(xte[test], yte[test], bins, rng)
        with torch.no_grad():
            xa = shape.features(clouds[at["pool"]]).double().numpy()
            ya = text.features(ids[at["pool"]]).double().numpy()
            xt, yt = shape.features(t_clouds).double().numpy(), text.features(t_ids).double().numpy()
        xq, yq = xt[: self.queries], yt[: self.queries]

        results = []
        a, b = xa[: self.anchors], ya[: self.anchors]
        for arm in ARMS:
            ks = self.k_sweep if arm in REDUCED else [None]
            for k in ks:
                results.append(
                    {"arm": arm, "k": k, "anchors": self.anchors, **score(arm, a, b, xq, yq, k, self.ridge)}
                )
        for n in self.anchor_sweep:
            if n != self.anchors:
                results.append(
                    {
                        "arm": "cca_affine",
                        "k": self.k,
                        "anchors": n,
                        **score("cca_affine", xa[:n], ya[:n], xq, yq, self.k, self.ridge),
                    }
                )
        cca = al.fit_cca(a, b, self.k, self.ridge)
        return {
            "world_size": world_size(),
            "pretext": pretext,
            "raw_cka": _linear_cka(xt, yt),
            "subspace_cka": _linear_cka(cca.project_x(xt), cca.project_y(yt)),
            "canonical_correlations": al.fit_cca(a, b, self.feature_dim, self.ridge).correlations.tolist(),
            "probes": probes(cca, a, ytr[pool[: self.anchors]], xt, yte[test], t_scale),
            "results": results,
        }


def score(arm: str, xa, ya, xq, yq, k: int | None, ridge: float) -> dict:
    """One arm's matching accuracy and top-1/top-5 retrieval of the shape x_j from the caption y_i (module doc)."""
    if arm in ("cca_affine", "cca_cosine", "cca_local_cka"):
        cca = al.fit_cca(xa, ya, k, ridge)
        xa, ya, xq, yq = cca.project_x(xa), cca.project_y(ya), cca.project_x(xq), cca.project_y(yq)
    elif arm == "pca_affine":
        (mx, px), (my, py) = al.fit_pca(xa, k), al.fit_pca(ya, k)
        xa, xq, ya, yq = (xa - mx) @ px, (xq - mx) @ px, (ya - my) @ py, (yq - my) @ py
    if arm.endswith("local_cka"):
        s = al.local_cka_scores(ya, xa, yq, xq)
    elif arm.endswith("affine"):
        r, c = al.fit_affine(ya, xa)
        s = al.cosine_scores(yq @ r + c, xq)
    else:  # none, cca_cosine
        s = al.cosine_scores(yq, xq)
    return {"matching": al.matching_accuracy(s), "top1": al.retrieval_at(s, 1), "top5": al.retrieval_at(s, 5)}


def probes(cca: al.CCA, xa, labels_a, xt, labels_t, scale_t) -> dict:
    """What the shape features' canonical subspace (span of W_X) and its orthogonal complement hold: the accuracy
    of a logistic-regression probe of the class (fitted on the anchors) and the R^2 of a ridge probe of the
    cloud's scale factor (fitted on half the test objects, scored on the other half: the scale is drawn afresh for
    every cloud and the anchors' factors are not kept)."""
    from sklearn.linear_model import LogisticRegression, RidgeCV

    q, _ = np.linalg.qr(cca.wx)
    parts = {
        "subspace": q,
        "complement": np.linalg.svd(np.eye(len(q)) - q @ q.T)[0][:, : len(q) - q.shape[1]],
    }
    half = len(xt) // 2
    out = {}
    for name, basis in parts.items():
        za, zt = (xa - cca.mean_x) @ basis, (xt - cca.mean_x) @ basis
        clf = LogisticRegression(max_iter=2000).fit(za, labels_a)
        reg = RidgeCV(alphas=np.logspace(-3, 3, 13)).fit(zt[:half], scale_t[:half])
        out[name] = {
            "dim": int(basis.shape[1]),
            "class_accuracy": float(clf.score(zt, labels_t)),
            "scale_r2": float(reg.score(zt[half:], scale_t[half:])),
        }
    return out


def _linear_cka(x, y) -> float:
    from subspacelab.analysis.similarity import linear_cka

    return linear_cka(x, y)
