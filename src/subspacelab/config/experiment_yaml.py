"""``conf/experiment/<id>.yaml`` written from the paper's ``Experiment`` dataclass: one source of defaults.

An experiment paper's defaults live in its dataclass (``papers/<id>/experiment.py``), each field with a trailing
comment saying where its value comes from (``[paper]``, ``[code]``, ``[ours]`` ...) and ``# ---`` comment lines
between groups. Hydra needs every key in a yaml file before it accepts an override of it (``experiment.trials=2``
on a key the yaml lacks is "Key not in struct"), so the yaml is generated from the dataclass, comments included,
and ``make check`` fails when the two differ::

    python -m subspacelab.config.experiment_yaml            # rewrite every experiment paper's yaml
    python -m subspacelab.config.experiment_yaml --check    # exit 1 naming each stale file

The rendered file: the class docstring as the header comment, ``_target_``, one line per field in field order
(the comments standing before the field in the source, then ``key: value  # trailing comment``; a dict field
whose default is a dict literal gets one line per entry, each with its own trailing comment), and ``tag:`` from
the class attribute ``TAG`` (a Hydra interpolation naming the run, e.g. ``"${.dataset}"``).
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import importlib
import inspect
import io
import math
import sys
import tokenize
from pathlib import Path

import yaml

from subspacelab.config.compose import CONF_DIR

GENERATED = "Generated from {source} by `make experiment-yaml`:\nedit the dataclass, not this file."
COMMENT_COLUMN = 28  # trailing comments start here (or one space after a longer line)


# ------------------------------------------------------------------------------------------- values
def scalar(value, in_flow: bool = False) -> str:
    """A YAML scalar that OmegaConf reads back as the same Python value and type (``in_flow``: inside [..] or {..})."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return ".nan"
        if math.isinf(value):
            return ".inf" if value > 0 else "-.inf"
        return _float(value)
    if isinstance(value, str):
        plain = (
            value
            and value == value.strip()
            and not any(c in value for c in "#:'\"\n" + (",[]{}" if in_flow else ""))
        )
        if plain and value[0] not in "!&*|>%@`-?[{" and _reads_back(value, in_flow):
            return value  # as a person writes it: data/raw, ${.dataset}
        return "'" + value.replace("'", "''") + "'"
    raise TypeError(f"cannot write {type(value).__name__} {value!r} as a YAML default")


def _reads_back(text: str, in_flow: bool) -> bool:
    """Whether ``text`` written plain reads back as itself (in a block, or inside [..] and {..})."""
    cases = {f"k: [{text}]": {"k": [text]}, f"k: {{x: {text}}}": {"k": {"x": text}}} if in_flow else {}
    cases[f"k: {text}"] = {"k": text}
    try:
        return all(yaml.safe_load(doc) == want for doc, want in cases.items())
    except yaml.YAMLError:
        return False


def _float(value: float) -> str:
    """The shortest text that reads back as ``value``: 0.5, 10.0, 1.0e-3 (YAML 1.1 needs the dot and the sign)."""
    text = repr(value)
    if "e" not in text and (value == 0 or 1e-2 <= abs(value) < 1e6):
        return text
    for digits in range(17):
        mantissa, exponent = f"{value:.{digits}e}".split("e")
        if float(f"{mantissa}e{exponent}") == value:
            break
    if "." not in mantissa:
        mantissa += ".0"
    return f"{mantissa}e{exponent[0]}{int(exponent[1:])}"


def flow(value) -> str:
    """``value`` in YAML flow style on one line."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key(k)}: {flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(flow(v) for v in value) + "]"
    return scalar(value, in_flow=True)


def key(name) -> str:
    """A mapping key that reads back as the same string (``on``, ``no``, ``1`` are quoted)."""
    return scalar(str(name), in_flow=True)


def default_of(f: dataclasses.Field):
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    raise ValueError(f"field {f.name!r} has no default: every experiment field needs one")


# ------------------------------------------------------------------------------------------- source
@dataclasses.dataclass
class FieldSource:
    comments_before: list[str]
    comment: str | None
    entry_comments: dict[str, str]  # a dict literal default: key -> trailing comment of its entry


def _comments_by_line(source: str) -> dict[int, list[tuple[int, str]]]:
    out: dict[int, list[tuple[int, str]]] = {}
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            out.setdefault(tok.start[0], []).append((tok.start[1], tok.string[1:].strip()))
    return out


def _dict_literal(node: ast.expr | None) -> ast.Dict | None:
    """The dict literal of ``field(default_factory=lambda: {...})`` (or a plain ``= {...}``), if any."""
    if isinstance(node, ast.Dict):
        return node
    if isinstance(node, ast.Call):
        for kw in node.keywords:
            if kw.arg == "default_factory" and isinstance(kw.value, ast.Lambda):
                return _dict_literal(kw.value.body)
    return None


def field_sources(cls: type) -> dict[str, FieldSource]:
    """Each field's comments in ``cls``'s source."""
    source = Path(inspect.getsourcefile(cls)).read_text()
    lines = source.splitlines()
    comments = _comments_by_line(source)
    tree = ast.parse(source)
    node = next(n for n in ast.walk(tree) if isinstance(n, ast.ClassDef) and n.name == cls.__name__)

    def trailing(line: int) -> str | None:
        found = [c for col, c in comments.get(line, []) if lines[line - 1][:col].strip()]
        return found[-1] if found else None

    out: dict[str, FieldSource] = {}
    prev_end = node.lineno
    for stmt in node.body:
        if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
            before = [
                lines[ln - 1].strip()[1:].strip()
                for ln in range(prev_end + 1, stmt.lineno)
                if lines[ln - 1].strip().startswith("#")
            ]
            entry_comments = {}
            literal = _dict_literal(stmt.value)
            if literal is not None and stmt.end_lineno > stmt.lineno:
                for key, value in zip(literal.keys, literal.values, strict=True):
                    if isinstance(key, ast.Constant) and (c := trailing(value.end_lineno)):
                        entry_comments[str(key.value)] = c
            comment = trailing(stmt.lineno) if stmt.end_lineno == stmt.lineno or not entry_comments else None
            if comment is None and not entry_comments:
                comment = trailing(stmt.end_lineno)
            out[stmt.target.id] = FieldSource(before, comment, entry_comments)
        prev_end = stmt.end_lineno
    return out


# ------------------------------------------------------------------------------------------- render
def _line(code: str, comment: str | None) -> str:
    if not comment:
        return code
    return (
        f"{code.ljust(COMMENT_COLUMN - 1)} # {comment}"
        if len(code) < COMMENT_COLUMN - 1
        else f"{code}  # {comment}"
    )


def _comment_block(text: str) -> list[str]:
    return [f"# {line}".rstrip() for line in text.splitlines()]


def render(cls: type, target: str) -> str:
    """The yaml of ``cls``'s defaults (module doc)."""
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{target}: not a dataclass")
    sources = field_sources(cls)
    where = f"{cls.__module__}.{cls.__name__}"
    out = _comment_block(inspect.cleandoc(cls.__doc__ or ""))
    out += _comment_block(GENERATED.format(source=where))
    out.append(f"_target_: {target}")
    for f in dataclasses.fields(cls):
        src = sources.get(f.name, FieldSource([], None, {}))
        value = default_of(f)
        out += _comment_block("\n".join(src.comments_before))
        if isinstance(value, dict) and value and src.entry_comments is not None and len(flow(value)) > 80:
            out.append(_line(f"{f.name}:", src.comment))
            width = max(len(key(k)) for k in value) + 1
            entries = {k: f"  {(key(k) + ':').ljust(width)} {flow(v)}" for k, v in value.items()}
            column = min(80, max(len(code) for code in entries.values()) + 2)
            for k, code in entries.items():
                comment = src.entry_comments.get(str(k))
                out.append(f"{code.ljust(column - 1)} # {comment}" if comment else code)
        else:
            out.append(_line(f"{f.name}: {flow(value)}", src.comment))
    tag = getattr(cls, "TAG", None)
    if tag:
        out.append(f"tag: {scalar(tag)}")
    return "\n".join(out) + "\n"


# ------------------------------------------------------------------------------------------- papers
def experiment_papers(conf_dir: Path = CONF_DIR) -> dict[str, tuple[type, str]]:
    """``{paper id: (Experiment class, _target_)}`` for every experiment paper with a contract."""
    out = {}
    for contract in sorted((conf_dir / "paper").glob("*.yaml")):
        spec = yaml.safe_load(contract.read_text()) or {}
        if spec.get("kind") != "experiment":
            continue
        target = f"subspacelab.papers.{contract.stem}.Experiment"
        module = importlib.import_module(target.rpartition(".")[0])
        out[contract.stem] = (module.Experiment, target)
    return out


def stale(conf_dir: Path = CONF_DIR, ids: list[str] | None = None, write: bool = False) -> list[Path]:
    """The experiment yaml files that differ from their dataclass (rewritten when ``write``)."""
    changed = []
    for paper_id, (cls, target) in experiment_papers(conf_dir).items():
        if ids and paper_id not in ids:
            continue
        path = conf_dir / "experiment" / f"{paper_id}.yaml"
        text = render(cls, target)
        if not path.is_file() or path.read_text() != text:
            changed.append(path)
            if write:
                path.write_text(text)
    return changed


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("ids", nargs="*", help="paper ids (default: every experiment paper)")
    ap.add_argument("--check", action="store_true", help="exit 1 when a yaml differs from its dataclass")
    args = ap.parse_args(argv)
    changed = stale(ids=args.ids, write=not args.check)
    for path in changed:
        verb = "stale" if args.check else "wrote"
        print(f"{verb}: {path}" + (" (run `make experiment-yaml`)" if args.check else ""), file=sys.stderr)
    return 1 if args.check and changed else 0


if __name__ == "__main__":
    sys.exit(main())
