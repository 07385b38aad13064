"""Continual learning in subspaces: task streams (``streams``), the accuracy matrix and its metrics
(``metrics``), a training harness over a stream (``harness``), CoSO (``coso``) and baselines (``baselines``)."""
