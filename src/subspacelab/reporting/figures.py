"""One figure helper for every paper's plots: the house style, then save as PNG and close.

    with figure(out_dir / "loss.png", ncols=2) as (fig, axes):
        axes[0].plot(...)

PNG through matplotlib's Agg backend (no display, no network: DVC's HTML plots load from a CDN).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

DPI = 120
STYLE = {"axes.grid": True, "grid.alpha": 0.3, "legend.fontsize": 8, "axes.titlesize": 10}


@contextmanager
def figure(
    path: Path, ncols: int = 1, nrows: int = 1, size: tuple[float, float] | None = None, **subplot_kw
) -> Iterator[tuple]:
    """A figure with ``nrows x ncols`` axes (one ``Axes`` when both are 1, else a flat list), saved to
    ``path`` with tight layout and closed when the block ends (also when it raises)."""
    size = size or (5.0 * ncols + 1.0, 3.8 * nrows + 0.6)
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(nrows, ncols, figsize=size, squeeze=False, **subplot_kw)
        flat = list(axes.ravel())
        try:
            yield fig, flat[0] if len(flat) == 1 else flat
            fig.tight_layout()
            path = Path(path)
            path.parent.mkdir(parents=True, exist_ok=True)
            fig.savefig(path, dpi=DPI)
        finally:
            plt.close(fig)
