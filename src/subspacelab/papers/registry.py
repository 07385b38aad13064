"""Every paper the project reproduces, listed explicitly: ``get(id)`` is its :class:`Paper`.

A new paper adds its id here (``make new-paper`` does). Nothing else looks papers up by name.
"""

from __future__ import annotations

import importlib

from subspacelab.papers.spec import Paper

PAPER_IDS = (
    "blind_calibration",
    "comp_lora",
    "concrete_merging",
    "convergent_learning",
    "coso",
    "dcreg",
    "dse",
    "dynamic_subspace_learners",
    "eigenshield",
    "g_theory",
    "gcr",
    "grassmann_flows",
    "hf_dsc",
    "igsp",
    "intrinsic_dimension",
    "koopman_ib",
    "lp_sensitivity",
    "mhs_vm",
    "mi_estimation",
    "mlc",
    "mlfsr",
    "mmcr",
    "molr_mog",
    "molrg_diffusion",
    "music_word2vec",
    "plato_cave",
    "qoed_exploration",
    "representational_capacity",
    "s2cag",
    "share_lora",
    "sparse_regression",
    "subspace_ad",
    "switchlora",
    "treesynth",
    "ulsam",
    "xfactors",
)


class UnknownPaper(KeyError):
    pass


def get(paper_id: str) -> Paper:
    """The registered paper ``paper_id`` (its package's ``PAPER``)."""
    if paper_id not in PAPER_IDS:
        raise UnknownPaper(f"paper {paper_id!r} is not registered; known: {', '.join(PAPER_IDS)}")
    paper = importlib.import_module(f"subspacelab.papers.{paper_id}").PAPER
    if not isinstance(paper, Paper) or paper.id != paper_id:
        raise TypeError(f"subspacelab.papers.{paper_id}.PAPER must be Paper(id={paper_id!r}, ...)")
    return paper


def all_papers() -> list[Paper]:
    return [get(p) for p in PAPER_IDS]
