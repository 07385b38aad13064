"""The evaluate stage's measurements on every trained net's frozen global-pooled features:

* linear transfer: logistic regression (scikit-learn, C chosen on a held-out fifth of the transfer training
  images) to the held-out classes of the same dataset; accuracy on their test images;
* intra-class variability (``models.gcr.intra_class_variability``) on source test images.
"""

from __future__ import annotations

from subspacelab.papers.gcr.common import head_of


def _features(net, images, batch: int = 1000):
    import torch

    with torch.no_grad():
        return torch.cat(
            [net.features(images[i : i + batch].float().div(255.0)) for i in range(0, len(images), batch)]
        )


def linear_probe(train_x, train_y, test_x, test_y, cs, seed: int = 0) -> tuple[float, float]:
    """Test accuracy of a logistic regression on standardised features and the C it used: C picked on the
    last fifth of a seeded shuffle of the training set, then refit on all of it."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    def fit(c, x, y):
        return make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=2000)).fit(x, y)

    order = np.random.default_rng(seed).permutation(len(train_y))
    cut = len(order) * 4 // 5
    fit_idx, val_idx = order[:cut], order[cut:]
    scores = [
        fit(c, train_x[fit_idx], train_y[fit_idx]).score(train_x[val_idx], train_y[val_idx]) for c in cs
    ]
    best = float(cs[int(np.argmax(scores))])
    return float(fit(best, train_x, train_y).score(test_x, test_y)), best


def analyze(ctx) -> list[dict]:
    """Transfer accuracy and intra-class variability of every trained net, in run-name order."""
    import torch

    from subspacelab.data import VisionDataModule
    from subspacelab.models.gcr import intra_class_variability

    spec = ctx.spec
    runs = sorted(
        (run for run in ctx.runs if run.metrics.get("test_acc") is not None),
        key=lambda run: run.metrics["run_name"],
    )
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    data_cache: dict[str, tuple] = {}
    out = []
    try:
        for run in runs:
            r = run.metrics
            _, module = run.load_trained()
            net = module.net.module.eval()
            d = run.cfg.data
            if d.name not in data_cache:
                common = {k: d[k] for k in ("name", "root", "mirror", "val_size", "split_seed")}
                source = VisionDataModule(
                    **common,
                    classes=list(d.classes) if d.classes else None,
                    test_size=int(spec["variability_images"]),
                )
                target = VisionDataModule(
                    **common,
                    classes=list(spec["transfer_classes"]),
                    train_size=int(spec["transfer_train"]),
                    test_size=int(spec["transfer_test"]),
                )
                source.setup()
                target.setup()
                data_cache[d.name] = (source.test_set, target.train_set, target.test_set)
            source_test, target_train, target_test = data_cache[d.name]
            variability = intra_class_variability(_features(net, source_test.x), source_test.y)
            acc, c = linear_probe(
                _features(net, target_train.x).numpy(),
                target_train.y.numpy(),
                _features(net, target_test.x).numpy(),
                target_test.y.numpy(),
                [float(x) for x in spec["transfer_c"]],
                seed=int(r["seed"]),
            )
            head, k = head_of(r)
            out.append(
                {
                    "kind": "analysis",
                    "run_name": r["run_name"],
                    "data": r["data"],
                    "head": head,
                    "k": k,
                    "seed": r["seed"],
                    "transfer_acc": acc,
                    "transfer_c": c,
                    "variability": variability,
                }
            )
    finally:
        torch.set_num_threads(threads)
    return out
