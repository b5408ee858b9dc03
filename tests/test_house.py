"""The shape of the code: one door, no import loops (an AST check of the whole repository).

* No import loop between the modules of ``assistant/`` (imports inside functions count too: a loop
  hidden in a function is still a loop in the design).
* No name starting with ``_`` is used outside the module that defines it: not imported
  (``from m import _x``), not read or set as an attribute (``bot._llm``), anywhere in the repository:
  the package, the tests, the benchmarks and ``app.py``. ``self._x``, ``cls._x`` and ``super()._x``
  are a class's own; dunder names are Python's.
* The code does not know where it is checked out: no source, script or build file names the absolute
  path of the checkout or of the folder beside it that holds the shared data.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "assistant"
SOURCES = sorted([*PACKAGE.rglob("*.py"), *(REPO / "tests").rglob("*.py"), *(REPO / "benchmarks").rglob("*.py"),
                  REPO / "app.py"])


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path: Path) -> set[str]:
    """The ``assistant`` modules ``path`` imports, resolved to module names (relative imports too)."""
    here = module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    out = set()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for block in ast.walk(tree):  # imports only type checkers read are not imports at run time
        if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test):
            block.body = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                base_name = ".".join(base + ([node.module] if node.module else []))
            else:
                base_name = node.module or ""
            out.add(base_name)
            out.update(f"{base_name}.{alias.name}" for alias in node.names)
    modules = {module_name(p) for p in PACKAGE.rglob("*.py")}
    return {m for m in out if m in modules and m != here}


def import_graph() -> dict[str, set[str]]:
    return {module_name(p): imported_modules(p) for p in PACKAGE.rglob("*.py")}


def find_loop(graph: dict[str, set[str]]) -> list[str]:
    """One import loop as a list of modules (first == last), or [] when there is none."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt == node.rpartition(".")[0] or node.startswith(nxt + "."):
                continue  # a module importing its own package's face is not a loop of the design
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return []

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return []


def is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def own_names(tree: ast.AST) -> set[str]:
    """Private names a file defines itself: functions, classes, attributes it assigns, arguments."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
                names.add(node.attr)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


def private_reaches(source: str, where: str = "") -> list[str]:
    """Each use in ``source`` of a private name that another module defines."""
    tree = ast.parse(source)
    own = own_names(tree)
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            out.extend(f"{where}:{node.lineno}: imports {node.module}.{a.name}" for a in node.names if is_private(a.name))
        elif isinstance(node, ast.Attribute) and is_private(node.attr):
            owner = node.value
            if isinstance(owner, ast.Name) and owner.id in ("self", "cls"):
                continue
            if isinstance(owner, ast.Call) and isinstance(owner.func, ast.Name) and owner.func.id == "super":
                continue
            if node.attr in own:
                continue  # a private name of this file's own classes (another instance of the same class)
            out.append(f"{where}:{node.lineno}: uses {ast.unparse(node)}")
    return out


def test_the_package_has_no_import_loop():
    graph = import_graph()
    assert "assistant.core" in graph and "assistant.retrieval" in graph["assistant.core"]  # the check reads imports
    assert find_loop(graph) == []


def test_the_loop_finder_finds_a_loop():
    assert find_loop({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_loop({"a": {"b"}, "b": {"c"}, "c": set()}) == []


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(REPO)))
def test_no_private_name_is_used_outside_its_module(path):
    assert private_reaches(path.read_text(encoding="utf-8"), str(path.relative_to(REPO))) == []


def test_the_private_reach_check_sees_a_reach():
    source = ("from assistant.core import _State\nbot = object()\nbot._llm = 1\n"
              "class A:\n    def f(self, other):\n        self._x = 1\n        return super()._y, other._x\n")
    assert private_reaches(source, "probe.py") == ["probe.py:1: imports assistant.core._State", "probe.py:3: uses bot._llm"]


def test_no_code_names_where_the_checkout_is():
    """.ci/run fell back to the shared folder by one machine's absolute path: the data is found from the checkout
    (../shared/benchmarks) or from ASSISTANT_BENCHMARK_DATA alone."""
    scripts = [REPO / ".ci" / "run", REPO / "pyproject.toml", *REPO.glob("*.sh"), *(REPO / "benchmarks").glob("*.sh")]
    places = (f"{REPO}/", f"{REPO.parent / 'shared'}/")
    found = [f"{path.relative_to(REPO)} names {place}" for path in [*SOURCES, *scripts]
             for place in places if place in path.read_text(encoding="utf-8")]
    assert found == []
