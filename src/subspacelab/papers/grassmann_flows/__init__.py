"""Attention Is Not What You Need: Grassmann Flows as an Attention-Free Alternative (Zhang 2025): the same
tiny LLaMA trained with three token mixers (``model=llama``: self-attention with rotary positions;
``model=llama model.mixer=attention_nope``: the same attention without positions, the matched control;
``model=grassmann_lm``: the causal Grassmann mixing layer, whose only positional signal is its window
offsets). The analysis times forward+backward of untrained models over sequence lengths (linear scaling)."""

from subspacelab.papers.spec import Paper

PAPER = Paper(
    id="grassmann_flows",
    title="Attention Is Not What You Need: Grassmann Flows as an Attention-Free Alternative",
    analysis=True,
)
