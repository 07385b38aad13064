"""Attribute-space data synthesis (TreeSynth): a templated task space, a biased generator standing in for an LLM,
the tree that partitions the space into atomic subspaces, and the diversity measures of a synthetic dataset."""
