"""Symbolic music as sequences of beat slices: each slice is the set of pitch classes sounding in one beat,
coded as a 12-bit mask (bit ``p`` set when pitch class ``p`` sounds; C = 0, C# = 1, ..., B = 11, so C-E-G is
1 + 16 + 128 = 145).

The corpus is the Bach chorales bundled with ``music21`` (read offline). Parsing them takes about a minute,
so :func:`load_chorales` caches the slices of every chorale (with its pitch-class durations, for a key
estimate) in a small JSON file under ``data/music/``.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from subspacelab.data.mirror import DataUnavailableError

N_PC = 12
FULL = (1 << N_PC) - 1
DEFAULT_CACHE = Path("data/music")
INSTALL_HINT = "install it with `.venv/bin/pip install -c requirements/lock.txt music21` (make install does)"


def encode(pitch_classes: Iterable[int]) -> int:
    """The 12-bit mask of a set of pitch classes (any integers; taken mod 12)."""
    mask = 0
    for p in pitch_classes:
        mask |= 1 << (int(p) % N_PC)
    return mask


def decode(mask: int) -> tuple[int, ...]:
    """The sorted pitch classes of a mask."""
    return tuple(p for p in range(N_PC) if mask >> p & 1)


def transpose(mask: int, semitones: int) -> int:
    """The mask moved up by ``semitones`` (a rotation of the 12 bits)."""
    k = int(semitones) % N_PC
    return ((mask << k) | (mask >> (N_PC - k))) & FULL


def transpose_sequence(masks: Sequence[int], semitones: int) -> list[int]:
    return [transpose(m, semitones) for m in masks]


def beat_slices(notes: Iterable[tuple[float, float, int]], beat: float = 1.0) -> list[int]:
    """Cut a piece into equal, non-overlapping slices of ``beat`` quarter notes.

    ``notes``: (onset, duration, pitch) in quarter notes. A pitch class belongs to every slice its note
    overlaps (a note held across a boundary sounds in both slices); a slice where nothing sounds is 0."""
    notes = [(float(o), float(d), int(p)) for o, d, p in notes if d > 0]
    if not notes:
        return []
    end = max(o + d for o, d, _ in notes)
    n = max(1, math.ceil(end / beat - 1e-9))
    out = [0] * n
    for onset, dur, pitch in notes:
        first = int(math.floor(onset / beat + 1e-9))
        last = int(math.ceil((onset + dur) / beat - 1e-9)) - 1
        for j in range(first, max(first, last) + 1):
            out[j] |= 1 << (pitch % N_PC)
    return out


@dataclass(frozen=True)
class Piece:
    """One piece: its name, beat slices and total duration (quarter notes) of each pitch class."""

    name: str
    slices: tuple[int, ...]
    pc_durations: tuple[float, ...]


def _music21():
    try:
        import music21
    except ImportError as exc:
        raise DataUnavailableError(f"music21 is not installed ({exc}); {INSTALL_HINT}") from None
    return music21


def chorale_paths() -> list[str]:
    """Paths of the Bach chorales in music21's bundled corpus, sorted (the 4-part chorales ``bwv*``)."""
    m21 = _music21()
    paths = sorted(str(p) for p in m21.corpus.getComposer("bach") if Path(str(p)).name.startswith("bwv"))
    if not paths:
        raise DataUnavailableError(
            f"music21 {m21.__version__} has no bundled Bach corpus (corpus.getComposer('bach') is empty); "
            f"{INSTALL_HINT}, from the full wheel"
        )
    return paths


def parse_piece(path: str, beat: float = 1.0) -> Piece:
    """Parse one score with music21: its beat slices and pitch-class durations."""
    m21 = _music21()
    score = m21.corpus.parse(path)
    notes, durations = [], [0.0] * N_PC
    for el in score.flatten().notes:
        onset, dur = float(el.offset), float(el.quarterLength)
        for pitch in el.pitches:
            notes.append((onset, dur, pitch.midi))
            durations[pitch.pitchClass] += dur
    return Piece(Path(path).name, tuple(beat_slices(notes, beat)), tuple(durations))


def _cache_file(cache_dir: Path, beat: float, version: str) -> Path:
    return Path(cache_dir) / f"bach_chorales_beat{beat:g}_music21-{version}.json"


def load_chorales(beat: float = 1.0, limit: int | None = None, cache_dir: Path | None = None) -> list[Piece]:
    """The bundled Bach chorales as :class:`Piece` s, parsed once and cached (``limit``: the first ``limit``
    chorales, for tests; those are not cached). Chorales music21 cannot parse, or that have fewer than two
    slices, are left out."""
    m21 = _music21()
    cache_dir = DEFAULT_CACHE if cache_dir is None else Path(cache_dir)
    cache = _cache_file(cache_dir, beat, m21.__version__)
    if limit is None and cache.is_file():
        return [
            Piece(d["name"], tuple(d["slices"]), tuple(d["pc_durations"]))
            for d in json.loads(cache.read_text())
        ]
    paths = chorale_paths()[:limit] if limit else chorale_paths()
    pieces = []
    for path in paths:
        try:
            piece = parse_piece(path, beat)
        except Exception:  # a corpus file music21 cannot read: skip it, as a corpus reader does
            continue
        if len(piece.slices) >= 2:
            pieces.append(piece)
    if limit is None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(
            json.dumps(
                [
                    {"name": p.name, "slices": list(p.slices), "pc_durations": list(p.pc_durations)}
                    for p in pieces
                ]
            )
        )
        tmp.replace(cache)
    return pieces
