"""The evaluate stage's cost count: parameters and multiply-adds of each variant of each net in the contract's
``analysis.cost_nets``, trained or not (``torch.utils.flop_counter``)."""

from __future__ import annotations

from subspacelab.papers.ulsam.common import VARIANTS


def analyze(ctx) -> list[dict]:
    from subspacelab.analysis.flops import count_macs, count_parameters
    from subspacelab.models import build_model
    from subspacelab.models.ulsam import mobilenet_v1, mobilenet_v2

    builders = {"mobilenet_v1": mobilenet_v1, "mobilenet_v2": mobilenet_v2}

    spec = ctx.spec
    shape = tuple(int(s) for s in spec["input_shape"])
    out = []
    for net in spec["cost_nets"]:
        for variant in VARIANTS:
            model = build_model(
                builders[str(net["arch"])],
                seed=0,
                in_shape=shape,
                num_classes=10,
                width_mult=float(net["width_mult"]),
                ulsam=variant,
            )
            out.append(
                {
                    "kind": "analysis",
                    "arch": str(net["arch"]),
                    "width_mult": float(net["width_mult"]),
                    "ulsam": variant,
                    "parameters": count_parameters(model),
                    "macs": count_macs(model, (1, *shape)),
                    "input_shape": list(shape),
                }
            )
    return out
