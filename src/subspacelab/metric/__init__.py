"""Metric learning in subspaces of one embedding (ADSL, docs/research/dynamic_subspace_learners.md): the embedding's
neurons split into learners, each normalised on its own (``learners``); the margin loss on ADSL's mined pairs
(``margin``); clusters matched across reclusterings (``clusters``); NMI and Recall@k (``evaluation``).
Plain functions on tensors: the Lightning wrapper and the experiment build on them."""
