"""The generative harness every diffusion paper reuses: plain PyTorch, no framework.

- ``schedules``: forward processes x_t = s_t x_0 + γ_t ε (VP, VE), σ_t = γ_t/s_t and derivatives;
- ``molrg``: closed-form log-density / score / posterior mean of Gaussian mixtures with low-rank covariances
  (MoLRG, MoLR-MoG) and the paper-#27 low-rank softmax-gated denoiser on the Stiefel manifold;
- ``mlp``: a generic time-embedded MLP denoiser;
- ``losses``: denoising loss, denoising score matching, score MSE, a training loop for any denoiser;
- ``samplers``: DDPM ancestral and probability-flow ODE (Heun) for any denoiser D(x_t, s, γ) or score;
- ``ksubspaces``: K-subspaces clustering (PCA for K = 1);
- ``metrics``: generalisation vs memorisation of samples, coverage of the true subspaces, Jacobian rank.

Data come from ``subspacelab.numerics.union_of_subspaces`` (the one union-of-subspaces generator).
A denoiser is any callable D(x_t, s, γ) -> x̂_0 with s, γ scalars or (B,) tensors.
"""
