"""What the SwitchLoRA report's rules, tables and figures share: method names and the runs' selections."""

from __future__ import annotations

METHOD_ORDER = ("full", "lora", "relora", "galore", "switchlora")
LABELS = {
    "full": "full-rank",
    "lora": "LoRA",
    "relora": "ReLoRA",
    "galore": "GaLore",
    "switchlora": "SwitchLoRA",
}


def with_device_bytes(r: dict) -> dict:
    """Parameters + gradients + optimizer state: the training state without buffers (SwitchLoRA's candidate
    pools are buffers; the official code keeps them in host memory)."""
    if r.get("D") is None or r.get("optimizer_state_bytes") is None:
        return r
    return {**r, "device_state_bytes": 4 * r["D"] + r["trainable_bytes"] + r["optimizer_state_bytes"]}


def single_process(rows: list[dict]) -> list[dict]:
    return [r for r in rows if r.get("val_ppl") is not None and (r.get("world_size") or 1) == 1]


def per_seed(rows: list[dict], key: str, method: str, world_size: int = 1) -> list[float]:
    return [
        r[key]
        for r in rows
        if r.get("method") == method and (r.get("world_size") or 1) == world_size and r.get(key) is not None
    ]
