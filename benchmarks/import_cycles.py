"""Print every import cycle among kerascls's modules; exit 1 if there is one.

    python benchmarks/import_cycles.py

Reads the source (nothing is imported) and counts every import statement: at module level,
inside functions (a lazy import still ties two modules together) and under
`if TYPE_CHECKING:`; and every string that is the full name of a kerascls module (the
lazy-name tables of the package `__init__`s, `importlib.import_module`).
`from package import name` counts as importing the submodule `package.name` when there is
one, else the package itself; the implicit import of a module's parent packages is not
counted (import-linter's graph does not count it either).

Prints one line per cycle, `a -> b -> ... -> a`, each from its smallest module name, then
the count. import-linter's layers contract (pyproject.toml) catches imports that go the
wrong way between packages; this catches the circles inside one package.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

PACKAGE = "kerascls"
ROOT = Path(__file__).resolve().parent.parent


def module_files(root: Path = ROOT) -> dict[str, Path]:
    """kerascls module name -> its source file."""
    modules = {}
    for path in sorted((root / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def imported_modules(module: str, path: Path, known: set[str]) -> set[str]:
    """The kerascls modules that `module` (at `path`) imports anywhere in its source."""
    is_package = path.name == "__init__.py"
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the package the module is in, then up
                anchor = module.split(".")
                anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                found.add(submodule if submodule in known else base)
        elif isinstance(node, ast.Constant) and str(node.value).startswith(f"{PACKAGE}."):
            found.add(node.value)  # a lazy import by name (kept only if it is a module)
    # `import kerascls.a.b` names kerascls.a.b; keep only kerascls's own modules
    return {name for name in found if name in known and name != module}


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """module -> the kerascls modules it imports."""
    files = module_files(root)
    known = set(files)
    return {module: imported_modules(module, path, known) for module, path in files.items()}


def cycles(graph: dict[str, set[str]]) -> Iterator[list[str]]:
    """Every elementary cycle, once, starting from its smallest module name.

    A depth-first search from each module in name order, through larger names only, so
    that each cycle is found from its smallest member and from nowhere else.
    """
    for start in sorted(graph):
        path = [start]  # the modules on the current path, and an iterator over each
        pending = [iter(sorted(graph[start]))]  # one's imports that are left to follow
        while pending:
            for successor in pending[-1]:
                if successor == start:
                    yield [*path, start]
                elif successor > start and successor not in path:
                    path.append(successor)
                    pending.append(iter(sorted(graph[successor])))
                    break
            else:  # every import of the last module followed: step back
                pending.pop()
                path.pop()


def main() -> int:
    found = 0
    for cycle in cycles(import_graph()):
        print(" -> ".join(cycle))
        found += 1
    print(f"{found} import cycle(s) among {PACKAGE}'s modules")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
