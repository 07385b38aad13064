"""The generative harness every diffusion paper reuses: plain PyTorch, no framework.

Modules:

- ``schedules``: forward processes x_t = s_t x_0 + γ_t ε (VP, VE), σ_t = γ_t/s_t and derivatives;
- ``molrg``: closed-form log-density / score / posterior mean of Gaussian mixtures with low-rank covariances
  (MoLRG, MoLR-MoG) and the low-rank softmax-gated denoiser of Wang et al. (MoLRG) on the Stiefel manifold;
- ``molr_mog``: the MoLR-MoG score network of Yang et al. (a mixture of experts, each the closed-form
  posterior mean of a latent mixture of Gaussians in its subspace), its true distribution and warm start;
- ``stiefel``: tangent projection and QR retraction that keep learnable bases orthonormal under Adam;
- ``mlp``: a generic time-embedded MLP denoiser (EDM preconditioning);
- ``losses``: denoising loss, denoising score matching, score MSE, noise-level samplers and a plain training
  loop for any denoiser (the Lightning version is ``subspacelab.lit.diffusion``);
- ``samplers``: DDPM ancestral and probability-flow ODE (Heun) for any denoiser D(x_t, s, γ) or score;
- ``ksubspaces``: K-subspaces clustering (PCA for K = 1);
- ``metrics``: generalisation vs memorisation of samples, coverage of the true subspaces, Jacobian rank,
  sliced Wasserstein and Fréchet distances.

Data come from ``subspacelab.numerics.union_of_subspaces`` (the one union-of-subspaces generator).
A denoiser is any callable D(x_t, s, γ) -> x̂_0 with s, γ scalars or (B,) tensors.
"""
