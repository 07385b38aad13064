"""Anomaly detection from patch features: subspace (PCA residual), memory-bank (kNN) and Gaussian (Mahalanobis)
scorers, anomaly maps and synthetic local defects."""
