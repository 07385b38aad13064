"""The source files a module runs: itself and every ``subspacelab`` module it imports, transitively
(read from the import statements, module level or not). DVC stages depend on exactly these files,
so editing one paper's code never invalidates another paper's runs."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = "subspacelab"


SRC = Path(__file__).resolve().parents[2]  # the folder holding the package


def source_of(module: str) -> Path | None:
    """The file of a ``subspacelab`` module (``a/b.py`` or ``a/b/__init__.py``), found on disk without importing
    anything (``importlib.util.find_spec`` would import its parent packages, Lightning with them); None for a name
    that is no module (``from pkg import function``)."""
    base = SRC.joinpath(*module.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def _imports(path: Path, module: str) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            found.add(target)
            found |= {f"{target}.{a.name}" for a in node.names}  # `from pkg import submodule`
    return {m for m in found if m == PACKAGE or m.startswith(PACKAGE + ".")}


def module_files(*modules: str, root: Path | None = None) -> list[str]:
    """Paths (relative to ``root``, default the repository) of ``modules`` and what they import."""
    root = root or Path(__file__).resolve().parents[3]
    seen: dict[str, Path] = {}
    todo = list(modules)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        path = source_of(name)
        if path is None:
            continue  # `from pkg import function`: not a module
        seen[name] = path
        parts = name.split(".")
        todo += [".".join(parts[:i]) for i in range(2, len(parts))]  # parent packages' __init__ run first
        todo += sorted(_imports(path, name))
    files = {p.resolve() for p in seen.values() if not (p.name == "__init__.py" and p.parent.name == PACKAGE)}
    return sorted(str(p.relative_to(root)) for p in files)
