"""Speed of the low-rank pre-training recipes on the cpu-scale tiny LLaMA, one CPU thread (``make bench``).

Targets (issue: low-rank pre-training):
- our ``LoRALinear`` forward+backward within 1.1x of peft's LoRA layer on the same weights and inputs;
- SwitchLoRA's step (switching included) within 1.2x of a LoRA step;
- step time of LoRA, SwitchLoRA and GaLore relative to full-rank training (reported, no target).

Times are best process-CPU seconds over repeats after a warm-up, so other load on the machine matters little.

    python bench/lowrank.py --out bench/results/lowrank.json
"""

from __future__ import annotations

import argparse
import json
import platform

import torch
from timing import best_cpu_seconds  # bench/timing.py (scripts run from bench/)
from torch import nn

from subspacelab.lowrank.lora import LoRALinear
from subspacelab.lowrank.recipes import make_recipe
from subspacelab.models.lm import LLAMA_TARGETS, build_llama


def lora_layer_vs_peft(tokens: int = 2048, width: int = 128, r: int = 32) -> dict:
    import peft

    torch.manual_seed(0)
    base = nn.Sequential(nn.Linear(width, width, bias=False))
    ours = LoRALinear(base[0], r=r, alpha=1.0)
    theirs = peft.get_peft_model(
        base, peft.LoraConfig(r=r, lora_alpha=1, target_modules=["0"], lora_dropout=0.0)
    )
    with torch.no_grad():
        layer = theirs.base_model.model[0]
        ours.lora_B.normal_()
        layer.lora_A["default"].weight.copy_(ours.lora_A)
        layer.lora_B["default"].weight.copy_(ours.lora_B)
    x = torch.randn(tokens, width)

    def step(module):
        def run():
            module.zero_grad(set_to_none=True)
            module(x).square().mean().backward()

        return run

    t_ours, t_peft = best_cpu_seconds(step(ours), inner=20), best_cpu_seconds(step(theirs), inner=20)
    return {
        "ours_s": t_ours,
        "peft_s": t_peft,
        "ratio": t_ours / t_peft,
        "target": 1.1,
        "met": t_ours / t_peft <= 1.1,
    }


def recipe_steps(batch: int = 16, seq: int = 128, vocab: int = 1024) -> dict:
    settings = {
        "full": {},
        "lora": {"r": 32, "alpha": 1.0},
        "galore": {"rank": 32, "update_proj_gap": 200, "scale": 0.25},
        "switchlora": {"r": 32, "alpha": 1.0, "interval": 40, "descent_rate": 0.1, "adam_warm_step": 5},
    }
    x = torch.randint(0, vocab, (batch, seq))
    out = {}
    for name, kw in settings.items():
        net = build_llama(
            0, vocab, hidden_size=128, intermediate_size=344, num_layers=2, num_heads=4, max_seq_len=seq
        )
        # total_steps 100: SwitchLoRA switches at its full starting rate during the timed steps
        recipe = make_recipe(name, targets=list(LLAMA_TARGETS), total_steps=100, seed=0, **kw)
        recipe.prepare(net)
        opt = recipe.optimizer(net, lr=1e-3)
        counter = {"step": 0}

        def step(net=net, recipe=recipe, opt=opt, counter=counter):
            loss = nn.functional.cross_entropy(net(input_ids=x).logits.reshape(-1, vocab), x.reshape(-1))
            loss.backward()
            recipe.before_step(counter["step"], opt)
            opt.step()
            opt.zero_grad(set_to_none=True)
            counter["step"] += 1

        out[name] = best_cpu_seconds(step, repeats=3, inner=5)
    rel = {k: v / out["full"] for k, v in out.items()}
    switch_overhead = out["switchlora"] / out["lora"]
    return {
        "step_seconds": out,
        "relative_to_full": rel,
        "switchlora_over_lora": switch_overhead,
        "switchlora_target": 1.2,
        "switchlora_met": switch_overhead <= 1.2,
    }


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default="bench/results/lowrank.json")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    result = {
        "lora_layer_vs_peft": lora_layer_vs_peft(),
        "recipes": recipe_steps(),
        "machine": platform.machine(),
        "torch": torch.__version__,
        "note": "best process CPU seconds after a warm-up, torch on 1 thread; tiny LLaMA hidden 128, 2 layers, "
        "batch 16 x 128 tokens, vocabulary 1,024",
    }
    with open(args.out, "w") as fh:
        json.dump(result, fh, indent=2)
    lp = result["lora_layer_vs_peft"]
    print(
        f"LoRA layer fwd+bwd: ours {lp['ours_s'] * 1e3:.2f} ms, peft {lp['peft_s'] * 1e3:.2f} ms "
        f"(ratio {lp['ratio']:.2f}, target <= 1.1: {lp['met']})"
    )
    for k, v in result["recipes"]["step_seconds"].items():
        print(f"{k:11s} step {v * 1e3:7.1f} ms  ({result['recipes']['relative_to_full'][k]:.2f}x full-rank)")
    rs = result["recipes"]
    print(f"SwitchLoRA / LoRA step: {rs['switchlora_over_lora']:.2f} (target <= 1.2: {rs['switchlora_met']})")


if __name__ == "__main__":
    main()
