"""From patch scores to pixel anomaly maps and image scores, and the AUROCs that judge them.

A map is the grid of patch scores upsampled bilinearly to the image size and smoothed by a 3×3 Gaussian kernel of
``sigma`` (SubspaceAD's ``cv2.GaussianBlur((3, 3), 4.0)``, reflecting borders as OpenCV's default); an image's score is the mean of its top ``top_fraction`` pixels (SubspaceAD's and
AnomalyDINO's aggregate: the top 1%)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from scipy.ndimage import gaussian_filter


def anomaly_maps(patch_scores: np.ndarray, grid: int, size: int, sigma: float) -> np.ndarray:
    """(n, grid*grid) patch scores -> (n, size, size) pixel maps."""
    s = torch.as_tensor(np.asarray(patch_scores, dtype=np.float64)).reshape(-1, 1, grid, grid)
    up = F.interpolate(s, size=(size, size), mode="bilinear", align_corners=False)[:, 0].numpy()
    if sigma > 0:
        # truncate = 1 / sigma makes scipy's kernel radius 1: the 3×3 kernel; "mirror" = OpenCV's REFLECT_101
        up = np.stack([gaussian_filter(m, sigma=sigma, mode="mirror", truncate=1.0 / sigma) for m in up])
    return up


def image_scores(maps: np.ndarray, top_fraction: float = 0.01) -> np.ndarray:
    """Mean of each map's top ``top_fraction`` pixels (at least one pixel)."""
    flat = np.asarray(maps).reshape(len(maps), -1)
    k = max(1, int(round(top_fraction * flat.shape[1])))
    return np.sort(flat, axis=1)[:, -k:].mean(1)


def image_auroc(scores: np.ndarray, anomalous: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(np.asarray(anomalous, dtype=int), scores))


def pixel_auroc(maps: np.ndarray, masks: np.ndarray) -> float:
    """AUROC of every pixel of every image (normal images contribute all-normal pixels)."""
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(np.asarray(masks, dtype=int).ravel(), np.asarray(maps).ravel()))
