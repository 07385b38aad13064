"""Speed of the representation-analysis toolkit on one CPU thread (``make bench``).

Target (issue: the representation analysis toolkit): DSE and DSMI on 1,000 points in under a second.
Also timed: principal angles, linear/RBF CKA and SVCCA on 1,000 x 512 activations.

    python bench/analysis.py --out bench/results/analysis.json
"""

from __future__ import annotations

import argparse
import json
import platform

import numpy as np
import torch
from timing import best_cpu_seconds  # bench/timing.py (scripts run from bench/)

from subspacelab import analysis as A


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default="bench/results/analysis.json")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    z, labels = rng.standard_normal((1000, 128)), rng.integers(0, 10, 1000)
    a, b = rng.standard_normal((1000, 512)), rng.standard_normal((1000, 512))
    cases = {
        "dse_1000x128": lambda: A.diffusion_spectral_entropy(z),
        "dsmi_1000x128_10_classes": lambda: A.diffusion_spectral_mutual_information(z, labels),
        "principal_angles_1000x512": lambda: A.principal_angles(a, b),
        "linear_cka_1000x512": lambda: A.linear_cka(a, b),
        "rbf_cka_1000x512": lambda: A.rbf_cka(a, b),
        "svcca_1000x512": lambda: A.svcca(a, b),
    }
    results = {name: round(best_cpu_seconds(fn), 4) for name, fn in cases.items()}
    within = results["dse_1000x128"] < 1.0 and results["dsmi_1000x128_10_classes"] < 1.0
    out = {
        "cpu_seconds_one_thread": results,
        "dse_dsmi_under_1s": within,
        "machine": platform.machine(),
        "torch": torch.__version__,
        "note": "best process CPU time of 3 repeats after a warm-up, torch on 1 thread",
    }
    with open(args.out, "w") as fh:
        json.dump(out, fh, indent=2)
    for name, sec in results.items():
        print(f"{name:32s} {sec:8.3f} s")
    print(f"DSE and DSMI on 1,000 points under 1 s: {within}")


if __name__ == "__main__":
    main()
