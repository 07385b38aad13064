"""Image classification runs: a vision backbone, wrapped by a method (full space or a random subspace)."""

from __future__ import annotations

from omegaconf import DictConfig

from subspacelab.pipeline.runinfo import resolved


def build(cfg: DictConfig):
    """The data module and the LightningModule of a run (no training)."""
    from subspacelab.configurable import locate, options
    from subspacelab.data import DATASETS, VisionDataModule
    from subspacelab.lit import SupervisedModule
    from subspacelab.models.build import build_model

    c = resolved(cfg)
    dm = VisionDataModule(**{k: v for k, v in c["data"].items() if k != "task"})
    info = DATASETS[c["data"]["name"]]
    backbone = build_model(c["model"], seed=c["seed"], in_shape=info.in_shape, num_classes=dm.num_classes)
    method = locate(c["method"]["targets"]["classification"], "method.targets.classification")
    net = method(backbone, **options(c["method"]))
    module = SupervisedModule(
        net,
        dm.num_classes,
        optimizer=c["train"]["optimizer"],
        l2=c["train"]["l2"],
        schedule=c["train"].get("schedule"),
    )
    return dm, module


def trained_state(module) -> dict:
    """What a run trained, as plain tensors (loads with ``torch.load(weights_only=True)``)."""
    net = module.net
    state = {k: v.detach().cpu() for k, v in net.state_dict().items()}
    if hasattr(net, "projection"):  # a subspace model: z and the seeds are the whole model
        state = {"z": net.z.detach().cpu()}
    return state


def run_metrics(cfg: DictConfig, dm, module, trainer, test: dict) -> dict:
    net = module.net
    val = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val/")}
    return {
        "arch": cfg.model.arch,
        "projection": cfg.method.get("projection"),
        "d": int(cfg.method.d) if "d" in cfg.method else None,
        "D": sum(p.numel() for p in (net.module if hasattr(net, "module") else net).parameters()),
        "trainable_parameters": sum(p.numel() for p in net.parameters() if p.requires_grad),
        "test_acc": float(test["test/acc"]),
        "test_loss": float(test["test/loss"]),
        "val_acc": val.get("val/acc"),
    }


def summary(metrics: dict) -> str:
    return f"test acc {metrics['test_acc']:.4f}"
