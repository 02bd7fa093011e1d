"""The layering check of `make lint`: import-linter's contracts (pyproject.toml, [tool.importlinter]) and no
import cycles between modules of ``pertinent``.

Imports inside functions count (a function-level import is still a dependency); imports under
``if TYPE_CHECKING:`` do not (they never run). Run: ``python scripts/check_layers.py`` (exit 1 on a violation);
``--cycles`` lists every cycle.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[1]


def import_cycles(package: str = "pertinent") -> list[list[str]]:
    """Strongly connected groups of two or more modules (each a cycle or several), largest first."""
    graph = grimp.build_graph(package, exclude_type_checking_imports=True, cache_dir=None)
    modules = sorted(graph.modules)
    edges = {m: sorted(graph.find_modules_directly_imported_by(m)) for m in modules}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    groups: list[list[str]] = []
    counter = 0
    for start in modules:  # Tarjan's algorithm, iterative (no recursion limit)
        if start in index:
            continue
        work = [(start, iter(edges[start]))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(edges.get(child, ()))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    group = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.append(member)
                        if member == node:
                            break
                    # a package and its own submodule are one unit (``pkg/__init__`` re-exporting), not a cycle
                    if len(group) > 1 and not all(g.startswith(min(group, key=len)) for g in group):
                        groups.append(sorted(group))
    return sorted(groups, key=len, reverse=True)


def main(argv: list[str]) -> int:
    sys.path.insert(0, str(ROOT / "src"))
    failed = False
    cycles = import_cycles()
    if cycles:
        failed = True
        print(f"import cycles: {len(cycles)} group(s) of modules import each other")
        for group in cycles if "--cycles" in argv else cycles[:5]:
            print("  - " + " <-> ".join(group))
    else:
        print("import cycles: none")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    lint_imports = Path(sys.executable).parent / "lint-imports"  # import-linter's command, beside this Python
    lint = subprocess.run([str(lint_imports), "--no-cache"], cwd=ROOT, env=env, check=False)
    return 1 if failed or lint.returncode else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
