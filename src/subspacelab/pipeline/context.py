"""The evaluate stage's view of a paper's finished runs, handed to its ``analyze(ctx)``
(:class:`subspacelab.papers.spec.AnalysisContext`): the paper composes nothing and imports no pipeline."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from omegaconf import DictConfig, OmegaConf


@dataclass
class Run:
    """A finished run: its metrics, its config, and its model (built fresh or with the trained weights)."""

    metrics: dict
    overrides: tuple[str, ...]
    runs_root: str

    @cached_property
    def cfg(self) -> DictConfig:
        from subspacelab.config import compose

        return compose([*self.overrides, f"runs_root={self.runs_root}"])

    @property
    def run_dir(self) -> Path:
        return Path(self.cfg.run_dir)

    def build(self, seed: int | None = None):
        """(data module, LightningModule) of this run's config, untrained (``seed``: another init seed)."""
        from subspacelab.config import compose
        from subspacelab.pipeline.train import build

        cfg = (
            self.cfg
            if seed is None
            else compose([*self.overrides, f"runs_root={self.runs_root}", f"seed={seed}"])
        )
        return build(cfg)

    def load_trained(self):
        """(data module, LightningModule) with the weights the run saved in ``model.pt``."""
        import torch

        dm, module = self.build()
        saved = torch.load(self.run_dir / "model.pt", weights_only=True)
        module.net.load_state_dict(saved["state"])
        return dm, module


@dataclass
class Context:
    paper: str
    scale: str
    rows: list[dict]
    runs_dir: Path
    _runs: list[Run] | None = field(default=None, repr=False)

    @cached_property
    def contract(self) -> DictConfig:
        return self.config().paper

    @cached_property
    def spec(self) -> dict:
        c = self.contract
        merged = OmegaConf.merge(c.get("analysis") or {}, c.scales[self.scale].get("analysis") or {})
        return OmegaConf.to_container(merged, resolve=True)

    @property
    def runs_root(self) -> str:
        return str(Path(self.runs_dir).parents[1])

    def config(self, *overrides: str) -> DictConfig:
        from subspacelab.config import compose

        return compose(
            [f"paper={self.paper}", f"scale={self.scale}", f"runs_root={self.runs_root}", *overrides]
        )

    @property
    def runs(self) -> list[Run]:
        """The planned runs that finished, in plan order, each with its metrics row."""
        if self._runs is None:
            from subspacelab.pipeline.plan import plan

            by_name = {r.get("run_name"): r for r in self.rows}
            self._runs = [
                Run(by_name[p.run_name], p.overrides, self.runs_root)
                for p in plan(self.paper, self.scale)
                if p.run_name in by_name
            ]
        return self._runs
