"""Datasets as LightningDataModules, with an offline mirror for machines without network."""

from subspacelab.data.mirror import DataUnavailableError, mirror_root
from subspacelab.data.vision import DATASETS, VisionDataModule, prepare_dataset

__all__ = ["DATASETS", "DataUnavailableError", "VisionDataModule", "mirror_root", "prepare_dataset"]
