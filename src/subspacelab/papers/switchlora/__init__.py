"""SwitchLoRA: Switched Low-Rank Adaptation Can Learn Full-Rank Information (Zhou, Wang, Xu 2024). The runs are
ordinary language-model pre-training runs (``data.task: lm``), one per method (full-rank, LoRA, ReLoRA, GaLore,
SwitchLoRA) and seed, plus two short DDP runs whose communication hook counts the bytes all-reduced per step."""

from subspacelab.papers.spec import Paper

PAPER = Paper(
    id="switchlora", title="SwitchLoRA: Switched Low-Rank Adaptation Can Learn Full-Rank Information"
)
