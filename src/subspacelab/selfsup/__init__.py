"""Self-supervised multi-view learning: the objectives (MMCR's nuclear norm of view centroids; SimCLR's NT-Xent
and Barlow Twins through lightly), the augmentation views, and the geometry and evaluation of what they learn."""
