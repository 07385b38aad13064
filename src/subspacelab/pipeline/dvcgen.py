"""``python -m subspacelab.pipeline.dvcgen <paper>``: write ``pipelines/<paper>/dvc.yaml`` and its params file
``pipelines/<paper>/params.yaml`` from the contract.

One train stage per grid point and scale (the grid point spelled out in its ``cmd``; the scale's settings read
from the params file, a DVC param per scale, so DVC reruns exactly the runs a change affects and ``dvc params
diff`` / ``dvc exp run -S`` see the hyperparameters), then evaluate and report per scale. Both files are
generated and committed; ``--check`` fails when one is out of date with the contract.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

import yaml
from omegaconf import OmegaConf

from subspacelab.config.compose import CachedComposer, contract_overrides, override_key
from subspacelab.config.params_file import flatten, nest
from subspacelab.pipeline.plan import grid_overrides, load_contract
from subspacelab.pipeline.tasks import task_of
from subspacelab.reporting import bibtex

HEADER = (
    "# GENERATED from conf/paper/{paper}.yaml by `python -m subspacelab.pipeline.dvcgen {paper}`.\n"
    "# Do not edit: change the contract and regenerate (`make dvc-yaml PAPER={paper}`).\n"
    "# Run one scale: dvc repro pipelines/{paper}/dvc.yaml:report-<smoke|cpu|paper>\n"
)


def training_code(task: str) -> list[str]:
    """The source files a training run of ``task`` executes: the run machinery and the task's module, with
    everything they import (so adding a task or a paper never invalidates another task's runs)."""
    from subspacelab.pipeline.codedeps import module_files
    from subspacelab.pipeline.tasks import TASKS

    return module_files("subspacelab.pipeline.train", TASKS[task])


# Only the config files a run reads, so that adding options for other papers invalidates nothing.
TRAIN_CONF = [
    "conf/config.yaml",
    "conf/data/${item.data}.yaml",
    "conf/model/${item.model}.yaml",
    "conf/method/${item.method}.yaml",
    "conf/trainer/${trainer}.yaml",
]
# The code of the run's model and method, each a record written by its own stage (see coderecord): adding a model
# or editing one re-runs only the runs that build it.
CODE_RECORDS = ["data/code/model-${item.model}.json", "data/code/method-${item.method}.json"]
# An experiment paper's run: the machinery that composes, runs and records it, plus (per paper) its
# own module and every subspacelab module that imports (see codedeps).
EXPERIMENT_CODE = [
    "src/subspacelab/config/compose.py",
    "src/subspacelab/config/schema.py",
    "src/subspacelab/pipeline/train.py",
    "src/subspacelab/pipeline/experiment.py",
    "src/subspacelab/pipeline/runinfo.py",
    "src/subspacelab/pipeline/loggers.py",
]


def params_path(paper: str) -> str:
    """The paper's params file, relative to the repository root (the train stages' working directory)."""
    return f"pipelines/{paper}/params.yaml"


def _items(paper: str, scale: str, composer: CachedComposer) -> dict[str, dict]:
    contract = load_contract(paper)
    items = {}
    for point in grid_overrides(contract, scale):
        user = [f"paper={paper}", f"scale={scale}", *point]
        full = contract_overrides(composer, user)
        cfg = composer(full)
        run_dir = str(cfg.run_dir)
        choices = composer.choices(full)
        items[f"{scale}-{Path(run_dir).name}"] = {  # the scale's settings come from the params file
            "args": " ".join(shell_safe(o) for o in [*user[:2], f"params_file={params_path(paper)}", *point]),
            "scale": scale,
            "run_dir": run_dir,
            "data": choices["data"],
            "prepared": data_record(cfg),
            "model": choices["model"],
            "method": choices["method"],
            "task": task_of(cfg),
        }
    return items


# Where an experiment's code lives and the name of its runs' folders (fixed by each stage's outputs): not settings.
NOT_PARAMS = ("experiment._target_", "experiment.tag")


def scale_params(paper: str, scale: str, composer: CachedComposer) -> dict:
    """The params file's section for ``scale``: an experiment paper's defaults (its ``experiment`` node, less
    :data:`NOT_PARAMS` and interpolations), then the contract's settings (the paper's, the scale's), less
    what every run of the scale's grid sets itself (that is in each run's args, which come after)."""
    contract = load_contract(paper)
    settings: dict = {}
    if contract.get("kind") == "experiment":
        node = composer([f"paper={paper}", f"scale={scale}"]).experiment
        defaults = OmegaConf.to_container(node, resolve=False)
        settings.update(
            (k, v)
            for k, v in flatten({"experiment": defaults}).items()
            if k not in NOT_PARAMS and not (isinstance(v, str) and "${" in v)
        )
    for node in (contract.get("settings"), contract.scales[scale].get("settings")):
        settings.update(OmegaConf.to_container(node, resolve=False) if node else {})
    points = [{override_key(o) for o in point} for point in grid_overrides(contract, scale)]
    per_run = set.intersection(*points) if points else set()  # keys every run sets itself

    def set_by_every_run(key: str) -> bool:  # a dotted grid key also replaces what lies under it
        return key in per_run or any(key.startswith(f"{g}.") for g in per_run if "." in g)

    return nest({k: v for k, v in settings.items() if not set_by_every_run(k)})


PARAMS_HEADER = (
    "# GENERATED from conf/paper/{paper}.yaml by `make dvc-yaml PAPER={paper}`: change the contract (or the experiment's\n"
    "# dataclass), not this file; `make check` fails while the two differ.\n"
    "# The settings every run of a scale gets on top of conf/'s defaults (the grid's own values are in each run's\n"
    "# args in dvc.yaml; config-group choices sit under `groups`). The train stages read their scale's section, so\n"
    "# DVC sees the hyperparameters: `dvc params diff`, `dvc exp show`, and for a one-off experiment\n"
    "#   dvc exp run pipelines/{paper}/dvc.yaml:report-cpu -S '{path}:cpu.<key>=<value>'\n"
)


def render_params(paper: str, composer: CachedComposer | None = None) -> str:
    contract = load_contract(paper)
    composer = composer or CachedComposer()
    sections = {scale: scale_params(paper, scale, composer) for scale in contract.scales}
    header = PARAMS_HEADER.format(paper=paper, path=params_path(paper))
    return header + yaml.safe_dump(sections, sort_keys=False, width=1000)


def shell_safe(override: str) -> str:
    """An override as one shell word: DVC runs ``cmd`` through a shell, where an unquoted dict value such as
    ``x={a:{b:1},c:{d:2}}`` would be brace-expanded into two words. Other overrides are left as written."""
    return shlex.quote(override) if "{" in override else override


def data_record(cfg) -> str:
    """The prepare stage's output a training run depends on: what the data (and its tokenizer) is."""
    if task_of(cfg) == "lm":
        return f"data/raw/tokenizers/{cfg.data.id}.provenance.json"
    return f"data/raw/{cfg.data.name}.provenance.json"


def _task(items: dict) -> str:
    tasks = {it["task"] for it in items.values()}
    if len(tasks) != 1:
        raise ValueError(f"a paper's training runs must share one task; got {sorted(tasks)}")
    return tasks.pop()


# What a finished run leaves that DVC tracks: image models are small and an analysis may read them; language
# models (megabytes each, read by nothing downstream) stay out of git and DVC, the metrics say what they did.
TASK_OUTS = {"classification": [{"${item.run_dir}/model.pt": {"cache": False}}], "lm": []}


def _training_stage(items: dict, paper: str) -> dict:
    task = _task(items)
    for it in items.values():
        del it["task"]
    stage = {
        "foreach": items,
        "do": {
            "cmd": "python -m subspacelab.train ${item.args} trainer=${trainer} logger=${logger}",
            "wdir": "../..",
            "deps": ["${item.prepared}", *training_code(task), *CODE_RECORDS, *TRAIN_CONF],
            "params": ["trainer", "logger", {params_path(paper): ["${item.scale}"]}],
            "outs": TASK_OUTS[task],
            "metrics": [{"${item.run_dir}/metrics.json": {"cache": False}}],
        },
    }
    if not stage["do"]["outs"]:
        del stage["do"]["outs"]
    return stage


def _experiment_stage(
    items: dict, paper: str, code: list[str], datasets: list[str], mat_inputs: list[str]
) -> dict:
    for it in items.values():  # no dataset, model or method: an experiment's items are its run dirs
        for k in ("data", "prepared", "model", "method", "task"):
            it.pop(k, None)
    return {
        "foreach": items,
        "do": {
            "cmd": "python -m subspacelab.train ${item.args} logger=${logger}",
            "wdir": "../..",
            "deps": [
                *(f"data/raw/{d}.provenance.json" for d in datasets),
                *(f"data/raw/mat/{d}.provenance.json" for d in mat_inputs),
                *EXPERIMENT_CODE,
                *code,
                "conf/config.yaml",
                f"conf/experiment/{paper}.yaml",
            ],
            "params": ["logger", {params_path(paper): ["${item.scale}"]}],
            "metrics": [{"${item.run_dir}/metrics.json": {"cache": False}}],
        },
    }


def paper_code(paper: str, part: str) -> list[str]:
    """The files ``subspacelab.papers.<paper>.<part>`` runs (itself and what it imports), less the run
    machinery; empty when the paper has no such module."""
    from subspacelab.pipeline.codedeps import module_files, source_of

    name = f"subspacelab.papers.{paper}.{part}"
    if source_of(name) is None:
        return []
    return [f for f in module_files(name) if f not in EXPERIMENT_CODE]


# The report stage reads the registry too, but only to find this paper: a paper added to it changes no report.
REPORT_CODE = [
    "src/subspacelab/reporting",
    "src/subspacelab/pipeline/report.py",
    "src/subspacelab/papers/spec.py",
]
EVALUATE_CODE = ["src/subspacelab/pipeline/evaluate.py", "src/subspacelab/pipeline/context.py"]


def stages(paper: str, composer: CachedComposer | None = None) -> dict:
    contract = load_contract(paper)
    composer = composer or CachedComposer()
    items, per_scale = {}, {}
    for scale in contract.scales:
        scale_items = _items(paper, scale, composer)
        items.update(scale_items)
        per_scale[scale] = [f"{it['run_dir']}/metrics.json" for it in scale_items.values()]
    from subspacelab.config.contract import check
    from subspacelab.papers import registry

    check(paper)
    experiment = contract.get("kind") == "experiment"
    run_code = paper_code(paper, "experiment") if experiment else []
    analysis = paper_code(paper, "analysis") if registry.get(paper).analysis else []
    report_code = sorted(
        f
        for f in {*paper_code(paper, "claims"), *paper_code(paper, "figures")}
        if f not in REPORT_CODE and not f.startswith("src/subspacelab/reporting/")
    )
    notes = [f"src/subspacelab/papers/{paper}/NOTES.md"] if registry.get(paper).notes() else []
    bib = bibtex.paper_bib(paper)  # its own entry only: adding another paper's changes no report
    notes += [str(bib.relative_to(bib.parents[4]))] if bib.is_file() else []
    reads_models = (
        bool(analysis) and not experiment and _task(items) == "classification"
    )  # an LM analysis builds its own
    datasets = list(contract.get("datasets") or [])  # an experiment that reads prepared datasets names them
    mat_inputs = list(contract.get("mat_inputs") or [])  # and the .mat benchmarks it reads from the mirror
    out: dict = {
        "train": _experiment_stage(items, paper, run_code, datasets, mat_inputs)
        if experiment
        else _training_stage(items, paper)
    }
    for scale, metrics in per_scale.items():
        results = f"runs/{paper}/{scale}/results.json"
        out[f"evaluate-{scale}"] = {
            "cmd": f"python -m subspacelab.pipeline.evaluate --paper {paper} --scale {scale}",
            "wdir": "../..",
            "deps": [
                *EVALUATE_CODE,
                *metrics,
                *([m.replace("metrics.json", "model.pt") for m in metrics] if reads_models else []),
                *analysis,
            ],
            "outs": [{results: {"cache": False}}],
        }
        rdir = f"reports/{paper}" if scale == "cpu" else f"reports/{paper}/{scale}"
        out[f"report-{scale}"] = {
            "cmd": f"python -m subspacelab.pipeline.report --paper {paper} --scale {scale}",
            "wdir": "../..",
            "deps": [results, f"conf/paper/{paper}.yaml", *REPORT_CODE, *report_code, *notes],
            "outs": [{f"{rdir}/comparison.md": {"cache": False}}],
            "metrics": [{f"{rdir}/comparison.json": {"cache": False}}],
        }
    return out


def report_plots(paper: str, root: Path = Path(".")) -> list[str]:
    """The figures the cpu report holds (``reports/<paper>/*.png``, relative to the pipeline's folder), for
    ``dvc plots show``; a paper whose report adds a figure regenerates its dvc.yaml (``make check`` says so)."""
    return [f"../../reports/{paper}/{f.name}" for f in sorted((root / "reports" / paper).glob("*.png"))]


def render(paper: str, composer: CachedComposer | None = None) -> str:
    spec: dict = {"vars": ["../../params.yaml"], "stages": stages(paper, composer)}
    if plots := report_plots(paper):
        spec["plots"] = plots
    return HEADER.format(paper=paper) + yaml.safe_dump(spec, sort_keys=False, width=1000)


CODE_HEADER = (
    "# GENERATED from conf/model/*.yaml and conf/method/*.yaml by `python -m subspacelab.pipeline.dvcgen code`.\n"
    "# One stage per model and method: the source files its builders import in, a record of their hashes out;\n"
    "# each training run depends on the records of its model and method (see subspacelab.pipeline.coderecord).\n"
)
CODE = "code"  # `dvcgen code` writes pipelines/code/dvc.yaml


def render_code() -> str:
    from subspacelab.pipeline import coderecord

    return CODE_HEADER + yaml.safe_dump({"stages": coderecord.stages()}, sort_keys=False, width=1000)


def generated(paper: str, root: Path = Path(".")) -> dict[Path, str]:
    """The files generated for ``paper`` (its dvc.yaml and params.yaml) and the text each must hold."""
    folder = root / "pipelines" / paper
    composer = CachedComposer()  # the two share their compositions
    return {
        folder / "dvc.yaml": render(paper, composer),
        folder / "params.yaml": render_params(paper, composer),
    }


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("paper", help=f"a paper id, or {CODE!r} for the model and method code stages")
    ap.add_argument("--check", action="store_true", help="exit 1 if a committed file is out of date")
    args = ap.parse_args(argv)
    folder = Path("pipelines") / args.paper
    files = {folder / "dvc.yaml": render_code()} if args.paper == CODE else generated(args.paper)
    stale = [path for path, text in files.items() if not path.is_file() or path.read_text() != text]
    if args.check:
        for path in stale:
            print(
                f"{path} is out of date with conf/paper/{args.paper}.yaml: run make dvc-yaml PAPER={args.paper}"
            )
        if stale:
            sys.exit(1)
        return
    folder.mkdir(parents=True, exist_ok=True)
    for path in stale:
        path.write_text(files[path])
        print(f"[dvcgen] wrote {path}")


def write_if_changed(paper: str) -> None:
    main([paper])


if __name__ == "__main__":
    main()
