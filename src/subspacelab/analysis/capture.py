"""Capture layer activations from any torch model with forward hooks.

The only module of ``subspacelab.analysis`` that does I/O: for activation sets too large for memory,
``capture_activations(..., to_dir=...)`` writes one ``torch.save`` file per batch and layer,

    to_dir/manifest.json                      {"layers": {name: {"dir", "chunks", "shape", "dtype"}}}
    to_dir/<safe layer name>/chunk_000000.pt  activations of batch 0 (detached, CPU)

and ``load_activations`` / ``iter_activation_chunks`` read them back (optionally memory-mapped).
Hooks are always removed, also when the forward pass raises. The model's train/eval mode is restored.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

__all__ = [
    "capture_activations",
    "flatten_units",
    "iter_activation_chunks",
    "load_activations",
]

MANIFEST = "manifest.json"


def _resolve_layers(
    model: nn.Module, layers: Mapping[str, nn.Module] | Sequence[str]
) -> dict[str, nn.Module]:
    if isinstance(layers, Mapping):
        return dict(layers)
    if isinstance(layers, str):
        layers = [layers]
    return {name: model.get_submodule(name) for name in layers}


def _default_batch_to_input(batch: Any) -> Any:
    """A batch is a tensor, or a tuple/list whose first element is the input (``(x, y)`` loaders)."""
    if isinstance(batch, (tuple, list)):
        return batch[0]
    return batch


def _first_tensor(output: Any) -> torch.Tensor:
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, (tuple, list)) and output and isinstance(output[0], torch.Tensor):
        return output[0]
    raise TypeError(f"cannot capture a module output of type {type(output).__name__}; expected a tensor")


def _model_device(model: nn.Module) -> torch.device:
    for p in model.parameters():
        return p.device
    for b in model.buffers():
        return b.device
    return torch.device("cpu")


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name) or "_"


def capture_activations(
    model: nn.Module,
    layers: Mapping[str, nn.Module] | Sequence[str],
    data: Iterable[Any],
    device: torch.device | str | None = None,
    max_batches: int | None = None,
    to_dir: str | Path | None = None,
    batch_to_input: Callable[[Any], Any] = _default_batch_to_input,
    eval_mode: bool = True,
) -> dict[str, torch.Tensor] | dict[str, Path]:
    """Run ``model`` over ``data`` and record the output of each named layer, batch by batch.

    layers: ``{name: module}`` or a list of names resolved with ``model.get_submodule`` ("features.3").
    data: an iterable of batches; ``batch_to_input(batch)`` gives the model input (default: the batch,
        or its first element for ``(x, y)`` tuples); a dict input is passed as keyword arguments.
    device: where inputs are moved (default: the model's device). The model itself is not moved.
    max_batches: stop after this many batches.
    to_dir: if given, each batch's activations are saved to disk (see the module docstring) and the
        return value maps each layer name to its directory; read back with ``load_activations``.
    eval_mode: run under ``model.eval()`` (dropout off, batch-norm frozen); the previous mode is
        restored afterwards. Runs under ``torch.no_grad``.

    A layer's output must be a tensor (or a tuple/list starting with one). Captured tensors are detached
    and on the CPU. Without ``to_dir`` returns ``{name: cat(batches along dim 0)}``.
    """
    modules = _resolve_layers(model, layers)
    device = _model_device(model) if device is None else torch.device(device)
    out_dir = None if to_dir is None else Path(to_dir)
    buffers: dict[str, list[torch.Tensor]] = {name: [] for name in modules}
    manifest: dict[str, dict[str, Any]] = {}
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        for name in modules:
            (out_dir / _safe_name(name)).mkdir(exist_ok=True)
            manifest[name] = {"dir": _safe_name(name), "chunks": 0, "shape": None, "dtype": None}

    current: dict[str, torch.Tensor] = {}

    def make_hook(name: str):
        def hook(_module, _inputs, output):
            current[name] = _first_tensor(output).detach().to("cpu")

        return hook

    handles = [module.register_forward_hook(make_hook(name)) for name, module in modules.items()]
    was_training = model.training
    try:
        if eval_mode:
            model.eval()
        with torch.no_grad():
            for i, batch in enumerate(data):
                if max_batches is not None and i >= max_batches:
                    break
                inputs = _to_device(batch_to_input(batch), device)
                current.clear()
                if isinstance(inputs, Mapping):
                    model(**inputs)
                else:
                    model(inputs)
                missing = [name for name in modules if name not in current]
                if missing:
                    raise RuntimeError(f"layers {missing} were not called during the forward pass")
                for name in modules:
                    t = current[name]
                    if out_dir is None:
                        buffers[name].append(t)
                    else:
                        _save_chunk(out_dir, manifest[name], t)
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)

    if out_dir is not None:
        (out_dir / MANIFEST).write_text(json.dumps({"layers": manifest}, indent=2))
        return {name: out_dir / manifest[name]["dir"] for name in modules}
    return {name: torch.cat(chunks, dim=0) if chunks else torch.empty(0) for name, chunks in buffers.items()}


def _to_device(x: Any, device: torch.device) -> Any:
    if isinstance(x, torch.Tensor):
        return x.to(device)
    if isinstance(x, Mapping):
        return {k: _to_device(v, device) for k, v in x.items()}
    if isinstance(x, (tuple, list)):
        return type(x)(_to_device(v, device) for v in x)
    return x


def _save_chunk(out_dir: Path, entry: dict[str, Any], t: torch.Tensor) -> None:
    path = out_dir / entry["dir"] / f"chunk_{entry['chunks']:06d}.pt"
    torch.save(t.contiguous().clone(), path)
    if entry["shape"] is None:
        entry["shape"] = [0, *t.shape[1:]]
        entry["dtype"] = str(t.dtype).removeprefix("torch.")
    entry["shape"][0] += t.shape[0]
    entry["chunks"] += 1


def iter_activation_chunks(to_dir: str | Path, name: str, mmap: bool = False) -> Iterator[torch.Tensor]:
    """Yield the saved batches of layer ``name`` in order (memory-mapped if ``mmap``)."""
    to_dir = Path(to_dir)
    entry = json.loads((to_dir / MANIFEST).read_text())["layers"][name]
    for k in range(entry["chunks"]):
        yield torch.load(to_dir / entry["dir"] / f"chunk_{k:06d}.pt", mmap=mmap, weights_only=True)


def load_activations(
    to_dir: str | Path, layers: Sequence[str] | None = None, mmap: bool = False
) -> dict[str, torch.Tensor]:
    """Read back what ``capture_activations(..., to_dir=...)`` wrote: ``{name: cat(chunks)}``."""
    names = (
        list(json.loads((Path(to_dir) / MANIFEST).read_text())["layers"]) if layers is None else list(layers)
    )
    return {name: torch.cat(list(iter_activation_chunks(to_dir, name, mmap)), dim=0) for name in names}


def flatten_units(acts: torch.Tensor) -> torch.Tensor:
    """(N, C, *spatial) -> (N * prod(spatial), C): every image x position is a sample, every channel a unit.

    The convention of Li et al. (2016, Sec. 2) for conv layers. A 2-D (N, C) input is returned as is.
    """
    if acts.ndim <= 2:
        return acts
    return acts.movedim(1, -1).reshape(-1, acts.shape[1])
