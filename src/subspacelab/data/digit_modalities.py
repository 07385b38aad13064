"""Two "modalities" of the same handwritten digits, standing in for a 3D shape and its caption (plato_cave).

- Shape: a 2-D point cloud of ``points`` samples from the digit's ink (a pixel drawn with probability
  proportional to its intensity, a uniform jitter inside it), centred on the canvas, in [-1, 1]^2, then scaled by
  a random factor ``scale`` in [0.8, 1.2] that no caption mentions (a purely geometric nuisance).
- Caption: words naming the class (numeral or word, with synonyms) and, each with probability ``p_attribute``,
  coarse words for three stroke attributes measured on the image -- slant (5 bins), stroke thickness (3) and
  width (3), bins at quantiles of the training split -- in a shuffled order, among random filler words.

So the modalities share the class and the three coarse attributes; the shape alone holds the fine geometry
(exact slant, stroke detail, the scale), the caption alone its wording. The measurements:
- slant: the shear of the ink's second moments, mu_11 / mu_02 (x to the right, y upwards);
- thickness: 2 * ink area / ink perimeter (area = pixels above 0.5, perimeter = those with a 4-neighbour below);
- width: the horizontal extent of the columns holding ink above 0.5.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

PAD, MASK = 0, 1
CLASS_WORDS = (
    ("zero", "0", "nought"),
    ("one", "1"),
    ("two", "2"),
    ("three", "3"),
    ("four", "4"),
    ("five", "5"),
    ("six", "6"),
    ("seven", "7"),
    ("eight", "8"),
    ("nine", "9"),
)
SLANT_WORDS = (
    ("leaning far left", "tilted strongly left"),
    ("leaning left", "tilted left"),
    ("upright", "straight"),
    ("leaning right", "tilted right"),
    ("leaning far right", "tilted strongly right"),
)
THICKNESS_WORDS = (("thin", "fine"), ("medium", "regular"), ("thick", "bold"))
WIDTH_WORDS = (("narrow", "slim"), ("average", "ordinary"), ("wide", "broad"))
NOUNS = ("digit", "number", "numeral")
FILLERS = ("a", "handwritten", "scribbled", "drawn", "quickly", "neatly", "sketch", "of", "the", "picture")
ATTRIBUTES = {"slant": SLANT_WORDS, "thickness": THICKNESS_WORDS, "width": WIDTH_WORDS}


def vocabulary() -> dict[str, int]:
    """Every word a caption can hold -> its id (0 = padding, 1 = mask)."""
    words = [w for group in CLASS_WORDS for w in group] + list(NOUNS) + list(FILLERS)
    for table in ATTRIBUTES.values():
        words += [w for options in table for phrase in options for w in phrase.split()]
    out: dict[str, int] = {}
    for w in words:
        out.setdefault(w, len(out) + 2)
    return {"<pad>": PAD, "<mask>": MASK, **out}


# --- stroke measurements ------------------------------------------------------------------------------------


def stroke_measures(images: np.ndarray) -> dict[str, np.ndarray]:
    """Slant, thickness and width (module doc) of (N, 28, 28) images with values in [0, 1]."""
    img = np.asarray(images, dtype=np.float64)
    n, h, w = img.shape
    ys, xs = np.mgrid[0:h, 0:w]
    xs, ys = xs.astype(float), (h - 1 - ys).astype(float)  # y upwards
    mass = img.sum((1, 2)).clip(1e-9)
    cx = (img * xs).sum((1, 2)) / mass
    cy = (img * ys).sum((1, 2)) / mass
    dx, dy = xs[None] - cx[:, None, None], ys[None] - cy[:, None, None]
    mu11 = (img * dx * dy).sum((1, 2)) / mass
    mu02 = (img * dy * dy).sum((1, 2)) / mass
    ink = img > 0.5
    padded = np.pad(ink, ((0, 0), (1, 1), (1, 1)))
    interior = padded[:, :-2, 1:-1] & padded[:, 2:, 1:-1] & padded[:, 1:-1, :-2] & padded[:, 1:-1, 2:]
    area = ink.sum((1, 2))
    perimeter = (ink & ~interior).sum((1, 2)).clip(1)
    cols = ink.any(1)
    first = np.where(cols.any(1), cols.argmax(1), 0)
    last = np.where(cols.any(1), w - 1 - cols[:, ::-1].argmax(1), -1)
    return {
        "slant": mu11 / mu02.clip(1e-9),
        "thickness": 2.0 * area / perimeter,
        "width": (last - first + 1).astype(float),
    }


@dataclass(frozen=True)
class Bins:
    """Inner quantile edges of each measure on a reference set (the training split)."""

    edges: dict[str, np.ndarray]

    @classmethod
    def fit(cls, measures: dict[str, np.ndarray]) -> Bins:
        return cls(
            {
                name: np.quantile(measures[name], np.linspace(0, 1, len(table) + 1)[1:-1])
                for name, table in ATTRIBUTES.items()
            }
        )

    def assign(self, measures: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {name: np.searchsorted(self.edges[name], measures[name]) for name in ATTRIBUTES}


# --- the two modalities -------------------------------------------------------------------------------------


def point_clouds(
    images: np.ndarray, points: int, rng: np.random.Generator, scale: tuple[float, float] = (0.8, 1.2)
) -> tuple[np.ndarray, np.ndarray]:
    """((N, points, 2) float32 clouds in [-1.2, 1.2]^2, (N,) scale factors): module doc."""
    img = np.asarray(images, dtype=np.float64)
    n, h, w = img.shape
    flat = img.reshape(n, -1) + 1e-12
    cum = np.cumsum(flat / flat.sum(1, keepdims=True), axis=1)
    offset = np.arange(n, dtype=np.float64)[:, None]  # rows' CDFs laid end to end: one sorted search for all
    found = np.searchsorted((cum + offset).ravel(), (rng.uniform(size=(n, points)) + offset).ravel())
    pick = (found.reshape(n, points) - np.arange(n)[:, None] * (h * w)).clip(0, h * w - 1)
    rows, cols = np.divmod(pick, w)
    x = (cols + rng.uniform(size=rows.shape)) / w * 2 - 1
    y = 1 - (rows + rng.uniform(size=rows.shape)) / h * 2
    factor = rng.uniform(*scale, size=n)
    cloud = np.stack([x, y], -1) * factor[:, None, None]
    return cloud.astype(np.float32), factor


def captions(labels: np.ndarray, bins: dict[str, np.ndarray], rng: np.random.Generator, p_attribute=0.8):
    """One caption (a list of words) per object: module doc."""
    out = []
    for i, label in enumerate(np.asarray(labels)):
        phrases = []
        for name, table in ATTRIBUTES.items():
            if rng.uniform() < p_attribute:
                options = table[int(bins[name][i])]
                phrases.append(options[rng.integers(len(options))])
        rng.shuffle(phrases)
        words = CLASS_WORDS[int(label)]
        core = [words[rng.integers(len(words))]]
        if rng.uniform() < 0.5:
            core.append(NOUNS[rng.integers(len(NOUNS))])
        fillers = [FILLERS[j] for j in rng.choice(len(FILLERS), size=rng.integers(1, 3), replace=False)]
        text = " ".join(fillers + phrases + core)
        out.append(text.split())
    return out


def encode(captions_: list[list[str]], vocab: dict[str, int], length: int) -> torch.Tensor:
    """(N, length) int64 word ids, padded with 0 (a longer caption raises: raise ``length``)."""
    ids = torch.zeros(len(captions_), length, dtype=torch.long)
    for i, words in enumerate(captions_):
        if len(words) > length:
            raise ValueError(f"caption of {len(words)} words exceeds length {length}: {' '.join(words)}")
        ids[i, : len(words)] = torch.tensor([vocab[w] for w in words])
    return ids


def mask_one_word(ids: torch.Tensor, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(ids with one non-padding word per caption replaced by the mask id, the masked words' ids): the
    masked-word pretext task of the caption encoder."""
    lengths = (ids != PAD).sum(1).numpy()
    where = torch.as_tensor((rng.uniform(size=len(ids)) * lengths).astype(np.int64))
    rows = torch.arange(len(ids))
    target = ids[rows, where].clone()
    masked = ids.clone()
    masked[rows, where] = MASK
    return masked, target


def rotate_quarters(clouds: np.ndarray, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(clouds each turned by a random multiple of 90 degrees, the multiple 0..3): the shape encoder's
    rotation-prediction pretext task (Gidaris et al. 2018)."""
    turns = rng.integers(0, 4, size=len(clouds))
    c = torch.as_tensor(clouds)
    x, y = c[..., 0], c[..., 1]
    options = torch.stack([c, torch.stack([-y, x], -1), -c, torch.stack([y, -x], -1)])  # 0, 90, 180, 270
    t = torch.as_tensor(turns)
    return options[t, torch.arange(len(c))], t
