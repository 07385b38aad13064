"""Hyperparameter-free deep subspace clustering (Sindičić & Kopriva, arXiv 2504.18179; code
lovro-sinda/LIHFSS-SVDSC): the pieces, plain torch/numpy.

Notation: n images X (n, 1, H, W); a convolutional autoencoder whose encoder gives the layer outputs
H_0 = X, H_1, …, H_L (each flattened to n x d_l, one sample per row); one coefficient matrix C (n x n),
row i holding the coefficients of sample i (Ĥ_l = C H_l), shared by every layer.

- ``ConvAE``: DSC-Net's encoder/decoder (TensorFlow "same" padding, stride 2, ReLU after every layer).
- ``SelfExpression``: C with its diagonal held at 0 (a sample may not express itself).
- ``self_expression_loss`` = Σ_l ||H_l − C H_l||_F² over the chosen layers (``layers="all"``: X and every
  encoder output, the paper's layer-wise loss with one joint C; ``"last"``: the last one only, DSC-Net's).
- ``structured_norm`` = ||C||_Q = Σ_ij |c_ij| · ½||q_i − q_j||² for one-hot labels q (S³C's
  subspace-structured norm): the mass of C between samples that the current labels put apart.
- ``RelativeErrorStop``: the label-free stopping rule, r_t = |L_t − L_{t−1}| / |L_{t−1}| < tol for
  ``patience`` checks in a row (or a hard step cap).
- ``keep_leading``: the k largest |c| of each column, the rest zeroed ("fixed number of leading
  coefficients, chosen from prior knowledge": k = the presumed subspace dimension).
- ``shifted_laplacian_labels``: A = (|C| + |Cᵀ|)/2, L_s = I + D^{-1/2} A D^{-1/2}, the K leading
  eigenvectors with rows normalised, k-means (20 restarts): the official code's read-out.
- ``dscnet_labels``: DSC-Net's read-out (keep the largest entries of each column up to a fraction α of its
  ℓ1 mass, SVD of rank K·d + 1, U S^{1/2} rows normalised, affinity |U Uᵀ|^ρ, spectral clustering).

``lit.hf_dsc.fit`` trains the three stages through Lightning (each a full-batch stage of ``lit.full_batch``);
each stage adds one loss term to the previous stage's, so no term carries a weight: (1) reconstruction
||X − X̂||²; (2) + self-expression; (3) + ||C||_Q with the labels Q refreshed from C every ``q_refresh`` steps.
Each stage ends by the stopping rule.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg
import torch
import torch.nn.functional as F
from torch import Tensor, nn

LAYERS = ("all", "last")


# ----------------------------------------------------------------------------------------------
# network
# ----------------------------------------------------------------------------------------------
def same_pad(x: Tensor, kernel: int, stride: int) -> Tensor:
    """TensorFlow's 'SAME' padding before a strided convolution (the extra pixel goes right/bottom)."""
    pads = []
    for size in (x.shape[3], x.shape[2]):  # width then height, F.pad's order
        out = math.ceil(size / stride)
        total = max((out - 1) * stride + kernel - size, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads)


class ConvAE(nn.Module):
    """Encoder: per layer 'same' padding, Conv2d(stride 2), ReLU; decoder: the mirror image with
    ConvTranspose2d(stride 2) cropped to twice the input size, ReLU (also on the output)."""

    def __init__(self, channels: list[int], kernels: list[int]):
        super().__init__()
        if len(channels) != len(kernels) + 1 or not kernels:
            raise ValueError(
                f"ConvAE: need len(channels) == len(kernels) + 1 >= 2, got {channels}, {kernels}"
            )
        self.kernels = list(kernels)
        self.enc = nn.ModuleList(
            nn.Conv2d(channels[i], channels[i + 1], kernels[i], stride=2) for i in range(len(kernels))
        )
        self.dec = nn.ModuleList(
            nn.ConvTranspose2d(channels[i + 1], channels[i], kernels[i], stride=2)
            for i in reversed(range(len(kernels)))
        )

    def encode(self, x: Tensor) -> list[Tensor]:
        """[X, H_1, …, H_L]."""
        out = [x]
        for conv, k in zip(self.enc, self.kernels, strict=True):
            out.append(F.relu(conv(same_pad(out[-1], k, 2))))
        return out

    def decode(self, h: Tensor, sizes: list[tuple[int, int]] | None = None) -> Tensor:
        """Mirror of the encoder. Each ConvTranspose2d gives (s − 1)·2 + k pixels per side; the extra ones
        beyond the target (twice the input, or ``sizes[i]``: the encoder's sizes from the last layer back,
        e.g. 7 for MNIST's 4 -> 7) are dropped, more at the right/bottom like TensorFlow."""
        for i, deconv in enumerate(self.dec):
            y = deconv(h)
            th, tw = sizes[i] if sizes is not None else (2 * h.shape[2], 2 * h.shape[3])
            top, left = (y.shape[2] - th) // 2, (y.shape[3] - tw) // 2
            h = F.relu(y[:, :, top : top + th, left : left + tw])
        return h

    def reconstruct(self, outputs: list[Tensor]) -> Tensor:
        """X̂ from the encoder outputs [X, H_1, …, H_L] (decoded back to each layer's size)."""
        return self.decode(outputs[-1], [tuple(o.shape[2:]) for o in reversed(outputs[:-1])])


class SelfExpression(nn.Module):
    """C (n x n) with DSC-Net's constant start (``init`` in every entry); its diagonal held at zero unless
    ``zero_diagonal=False`` (DSC-Net leaves it free)."""

    def __init__(self, n: int, init: float = 1e-4, zero_diagonal: bool = True):
        super().__init__()
        self.weight = nn.Parameter(torch.full((n, n), float(init)))
        self.register_buffer("off_diagonal", 1.0 - torch.eye(n) if zero_diagonal else torch.ones(n, n))

    @property
    def C(self) -> Tensor:
        return self.weight * self.off_diagonal

    def forward(self, h: Tensor) -> Tensor:
        return self.C @ h


# ----------------------------------------------------------------------------------------------
# losses
# ----------------------------------------------------------------------------------------------
def flatten(h: Tensor) -> Tensor:
    return h.reshape(h.shape[0], -1)


def select_layers(outputs: list[Tensor], layers: str) -> list[Tensor]:
    if layers == "all":
        return outputs
    if layers == "last":
        return outputs[-1:]
    raise ValueError(f"layers: one of {LAYERS}, got {layers!r}")


def self_expression_loss(C: Tensor, outputs: list[Tensor]) -> Tensor:
    """Σ_l ||H_l − C H_l||_F² (every entry summed)."""
    return sum(((H := flatten(h)) - C @ H).pow(2).sum() for h in outputs)


def reconstruction_loss(x: Tensor, x_hat: Tensor) -> Tensor:
    return (x - x_hat).pow(2).sum()


def structured_norm(C: Tensor, labels) -> Tensor:
    """||C||_Q = Σ_ij |c_ij| ½||q_i − q_j||² with q one-hot: Σ of |c_ij| over pairs with different labels."""
    y = torch.as_tensor(np.asarray(labels), device=C.device)
    apart = (y[:, None] != y[None, :]).to(C.dtype)
    return (C.abs() * apart).sum()


# ----------------------------------------------------------------------------------------------
# stopping rule
# ----------------------------------------------------------------------------------------------
@dataclass
class RelativeErrorStop:
    """Stop when |L_t − L_{t−1}| / |L_{t−1}| < tol at ``patience`` consecutive checks, after at least
    ``min_steps`` steps, or at ``max_steps``. ``update(loss)`` returns True when the stage should end."""

    tol: float = 1e-4
    patience: int = 3
    min_steps: int = 10
    max_steps: int = 1000
    steps: int = 0
    calm: int = 0
    last: float | None = None
    reason: str = ""

    def update(self, loss: float) -> bool:
        self.steps += 1
        if self.last is not None and self.last != 0:
            r = abs(loss - self.last) / abs(self.last)
            self.calm = self.calm + 1 if r < self.tol else 0
        self.last = float(loss)
        if self.steps >= self.min_steps and self.calm >= self.patience:
            self.reason = "relative error"
            return True
        if self.steps >= self.max_steps:
            self.reason = "step cap"
            return True
        return False


# ----------------------------------------------------------------------------------------------
# read-out: C -> labels
# ----------------------------------------------------------------------------------------------
def keep_leading(C: np.ndarray, k: int | None) -> np.ndarray:
    """Zero all but the ``k`` largest |c_ij| of each column j (None or k >= n: unchanged)."""
    C = np.asarray(C, dtype=np.float64)
    if k is None or k >= C.shape[0]:
        return C.copy()
    drop = np.argsort(-np.abs(C), axis=0, kind="stable")[k:]
    out = C.copy()
    np.put_along_axis(out, drop, 0.0, axis=0)
    return out


def symmetrise(C) -> np.ndarray | sp.csr_matrix:
    A = abs(C)
    return (A + A.T) / 2


def angular(A: np.ndarray, delta: float) -> np.ndarray:
    """The MATLAB read-out's angular step: A = U S Vᵀ, Z = U S^{1/2} with rows normalised, A ← |Z Zᵀ|^δ."""
    U, s, _ = np.linalg.svd(np.asarray(A), full_matrices=False)
    Z = U * np.sqrt(s)
    Z /= np.maximum(np.linalg.norm(Z, axis=1, keepdims=True), 1e-12)
    return np.abs(Z @ Z.T) ** delta


def shifted_laplacian_embedding(A, n_clusters: int) -> np.ndarray:
    """The K leading eigenvectors of L_s = I + D^{-1/2} A D^{-1/2} (D = diag(A1) + ε), rows normalised."""
    A = sp.csr_matrix(A)
    n = A.shape[0]
    d = np.asarray(A.sum(axis=1)).ravel() + np.finfo(float).eps
    s = sp.diags(1.0 / np.sqrt(d))
    N = s @ A @ s
    if n <= 600 or n_clusters >= n // 4:
        w, V = np.linalg.eigh(np.eye(n) + N.toarray())
    else:  # the same eigenvectors (I shifts the spectrum only), sparse Lanczos
        w, V = scipy.sparse.linalg.eigsh(N, k=n_clusters, which="LA", v0=np.ones(n))
    V = V[:, np.argsort(-w)[:n_clusters]]
    return V / np.maximum(np.linalg.norm(V, axis=1, keepdims=True), 1e-12)


def shifted_laplacian_labels(
    C, n_clusters: int, k: int | None, seed: int, angular_delta: float | None = None, n_init: int = 20
) -> np.ndarray:
    """The official read-out (module doc): symmetrise, keep the k leading coefficients per column,
    symmetrise again, (optionally the angular step), shifted-Laplacian embedding, k-means."""
    from sklearn.cluster import KMeans

    A = symmetrise(keep_leading(symmetrise(np.asarray(C, dtype=np.float64)), k))
    if angular_delta is not None:
        A = angular(A, angular_delta)
    V = shifted_laplacian_embedding(A, n_clusters)
    return KMeans(n_clusters, n_init=n_init, max_iter=1000, random_state=seed).fit_predict(V)


def keep_mass(C: np.ndarray, alpha: float) -> np.ndarray:
    """DSC-Net's ``thrC``: per column, the largest |c| until their sum reaches α·||c||_1 (α >= 1: unchanged)."""
    C = np.asarray(C, dtype=np.float64)
    if alpha >= 1:
        return C.copy()
    out = np.zeros_like(C)
    order = np.argsort(-np.abs(C), axis=0, kind="stable")
    for j in range(C.shape[1]):
        col = np.abs(C[order[:, j], j])
        total = col.sum()
        if total == 0:
            continue
        stop = int(np.searchsorted(np.cumsum(col), alpha * total)) + 1
        keep = order[:stop, j]
        out[keep, j] = C[keep, j]
    return out


def dscnet_labels(C, n_clusters: int, dim_subspace: int, alpha: float, ro: float, seed: int) -> np.ndarray:
    """DSC-Net's ``post_proC`` after ``thrC`` (module doc)."""
    from sklearn.cluster import SpectralClustering

    C = keep_mass(C, alpha)
    C = 0.5 * (C + C.T)
    r = min(dim_subspace * n_clusters + 1, C.shape[0] - 1)
    U, s, _ = np.linalg.svd(C, full_matrices=False)
    U = U[:, :r] * np.sqrt(s[:r])
    U /= np.maximum(np.linalg.norm(U, axis=1, keepdims=True), 1e-12)
    Z = U @ U.T
    W = np.abs(Z) ** ro
    W = 0.5 * (W + W.T)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Graph is not fully connected")
        sc = SpectralClustering(
            n_clusters, affinity="precomputed", assign_labels="discretize", random_state=seed
        )
        return sc.fit_predict(W)


# ----------------------------------------------------------------------------------------------
# the autoencoder's start
# ----------------------------------------------------------------------------------------------
def live_autoencoder(
    channels: list[int], kernels: list[int], x: Tensor, tries: int = 20
) -> tuple[ConvAE, int]:
    """A ConvAE (drawn from the global torch RNG) whose reconstruction of ``x`` is not identically zero.
    With a ReLU on the output layer an unlucky start gives X̂ = 0 everywhere, hence no gradient at all and a
    "converged" pre-training at step one; such a start is re-drawn (a label-free check). Returns the net and
    the number of re-draws."""
    for attempt in range(tries):
        ae = ConvAE(channels, kernels)
        with torch.no_grad():
            if (ae.reconstruct(ae.encode(x)) > 0).any():
                return ae, attempt
    raise RuntimeError(f"ConvAE{channels}: {tries} starts in a row reconstruct every image as 0 (dead ReLUs)")
