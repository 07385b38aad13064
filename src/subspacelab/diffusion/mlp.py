"""A generic MLP denoiser with a time (noise-level) embedding: the unstructured baseline.

Works in σ-space (σ = γ/s, y = x_t / s = x_0 + σ ε) with EDM's preconditioning (Karras et al. 2022):
    D(x_t, s, γ) = c_skip(σ) y + c_out(σ) F_θ(c_in(σ) y, emb(c_noise(σ))),
    c_skip = σ_d² / (σ² + σ_d²),  c_out = σ σ_d / sqrt(σ² + σ_d²),
    c_in = 1 / sqrt(σ² + σ_d²),  c_noise = ln(σ) / 4,
σ_d the data's per-coordinate standard deviation. emb: sin/cos of c_noise at log-spaced frequencies.
F_θ: ``depth`` hidden layers of ``width`` SiLU units on [c_in y, emb]. The default (n = 48, width 128,
depth 3, 16 frequencies) has about 50k parameters.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


class MLPDenoiser(nn.Module):
    def __init__(
        self,
        ambient: int,
        width: int = 128,
        depth: int = 3,
        n_freq: int = 16,
        sigma_data: float = 0.5,
        seed: int = 0,
        dtype: torch.dtype = torch.float32,
    ):
        super().__init__()
        if width < 1 or depth < 1 or n_freq < 1 or sigma_data <= 0:
            raise ValueError("MLPDenoiser: width, depth, n_freq >= 1 and sigma_data > 0")
        self.ambient, self.sigma_data = int(ambient), float(sigma_data)
        self.register_buffer("freqs", torch.logspace(0, 2, n_freq, dtype=dtype) * math.pi)
        gen_state = torch.random.get_rng_state()
        torch.manual_seed(int(seed))  # the initial weights come from the run's seed only
        layers, d_in = [], ambient + 2 * n_freq
        for _ in range(depth):
            layers += [nn.Linear(d_in, width), nn.SiLU()]
            d_in = width
        layers.append(nn.Linear(d_in, ambient))
        self.net = nn.Sequential(*layers).to(dtype)
        torch.random.set_rng_state(gen_state)

    def embed(self, c_noise: Tensor) -> Tensor:
        a = c_noise.reshape(-1, 1) * self.freqs
        return torch.cat([torch.sin(a), torch.cos(a)], dim=-1)

    def forward(self, x: Tensor, s, gamma) -> Tensor:
        dtype = self.freqs.dtype
        x = x.to(dtype)
        s = torch.as_tensor(s, dtype=dtype).reshape(-1, 1)
        gamma = torch.as_tensor(gamma, dtype=dtype).reshape(-1, 1)
        y, sigma = x / s, gamma / s
        sd2 = self.sigma_data**2
        c_skip = sd2 / (sigma**2 + sd2)
        c_out = sigma * self.sigma_data / torch.sqrt(sigma**2 + sd2)
        c_in = 1 / torch.sqrt(sigma**2 + sd2)
        emb = self.embed(torch.log(sigma) / 4).expand(x.shape[0], -1)
        return c_skip * y + c_out * self.net(torch.cat([c_in * y, emb], dim=-1))

    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
