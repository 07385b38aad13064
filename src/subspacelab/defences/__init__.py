"""Inference-time defences that act on a model's representations (EigenShield's causal-subspace filter)."""
