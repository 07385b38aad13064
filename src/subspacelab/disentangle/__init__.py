"""Disentangled representations with supervised latent blocks: XFactors (a VAE whose latent splits into a free
block S and one block T_i per known factor, each T_i shaped by a supervised InfoNCE on its factor) and the
β-VAE / VAE baselines, their Lightning-free maths and the factor-swap test."""
