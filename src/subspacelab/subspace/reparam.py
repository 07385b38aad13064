"""Random-subspace training of any module: theta = theta0 + P z, only z (d numbers) is trained."""

from __future__ import annotations

import torch
from torch import nn
from torch.func import functional_call

from subspacelab.subspace.projections import Projection


class SubspaceModel(nn.Module):
    """Wrap ``module`` so that its parameters are theta0 + P z.

    theta0 is the module's own (frozen) parameters, usually its random initialisation; P is a
    :class:`Projection` from R^d to R^D with D the number of parameters (biases included, as in
    the paper's code); z starts at zero, so the wrapped model starts as the module itself.
    """

    def __init__(self, module: nn.Module, projection: Projection):
        super().__init__()
        self.module = module
        names, shapes = [], []
        for name, p in module.named_parameters():
            p.requires_grad_(False)
            names.append(name)
            shapes.append(p.shape)
        self._names, self._shapes = names, shapes
        self._numels = [s.numel() for s in shapes]
        D = sum(self._numels)
        if projection.D != D:
            raise ValueError(f"projection maps to D={projection.D}, but the module has {D} parameters")
        self.projection = projection
        self.z = nn.Parameter(torch.zeros(projection.d))

    @property
    def D(self) -> int:
        return self.projection.D

    @property
    def d(self) -> int:
        return self.projection.d

    def offset(self) -> torch.Tensor:
        """P z, the flat offset from theta0 (length D)."""
        return self.projection(self.z)

    def effective_parameters(self) -> dict[str, torch.Tensor]:
        """theta0 + P z, split into the module's parameter tensors."""
        chunks = torch.split(self.offset(), self._numels)
        base = dict(self.module.named_parameters())
        return {n: base[n] + c.view(s) for n, c, s in zip(self._names, chunks, self._shapes, strict=True)}

    def forward_with(self, params: dict[str, torch.Tensor], *args, **kwargs):
        return functional_call(self.module, params, args, kwargs)

    def forward(self, *args, **kwargs):
        return self.forward_with(self.effective_parameters(), *args, **kwargs)

    @torch.no_grad()
    def materialize(self) -> nn.Module:
        """Write theta0 + P z into the wrapped module's parameters and return it (breaks the link)."""
        for name, value in self.effective_parameters().items():
            self.module.get_parameter(name).copy_(value)
        self.z.zero_()
        return self.module


class FullSpace(nn.Module):
    """The baseline: every parameter of ``module`` is trained (same interface as SubspaceModel)."""

    def __init__(self, module: nn.Module):
        super().__init__()
        self.module = module

    def effective_parameters(self) -> dict[str, torch.Tensor]:
        return dict(self.module.named_parameters())

    def forward_with(self, params: dict[str, torch.Tensor], *args, **kwargs):
        return self.module(*args, **kwargs)

    def forward(self, *args, **kwargs):
        return self.module(*args, **kwargs)
