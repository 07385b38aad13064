"""SubspaceLab: reproducible experiments for subspace techniques in machine learning."""

__version__ = "0.1.0"
