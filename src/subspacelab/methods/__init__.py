"""Techniques built on ``subspacelab.subspace``: each turns a backbone into the model that is trained."""

from subspacelab.methods.registry import METHODS, apply_method

__all__ = ["METHODS", "apply_method"]
