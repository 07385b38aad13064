"""Backbones as plain ``nn.Module``s, built by name."""

from subspacelab.models.registry import MODELS, build_model, count_parameters

__all__ = ["MODELS", "build_model", "count_parameters"]
