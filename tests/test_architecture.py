"""The rooms hold: the import contracts in pyproject.toml (``lint-imports``), no import cycles, and
tests that share through conftest.py files and tests/support, never by importing each other.

import-linter and its engine grimp read the source; nothing is imported or run.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("slipway", "builder", "deployer", "web", "webhooks", "devnet")
LINT_IMPORTS = str(Path(sys.executable).parent / "lint-imports")


def lint_imports(cwd: Path) -> subprocess.CompletedProcess:
    # PYTHONPATH first: the packages under cwd are the ones read, not the installed ones.
    return subprocess.run([LINT_IMPORTS, "--no-cache"], cwd=cwd, env={"PYTHONPATH": str(cwd)},
                          capture_output=True, text=True, timeout=300)


def module_cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Groups of modules that import each other in a circle (strongly connected, more than one)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(module: str) -> None:  # Tarjan's algorithm; the graph is a few hundred modules deep at most
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in sorted(graph.find_modules_directly_imported_by(module)):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                cycles.append(sorted(group))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return sorted(cycles)


def test_the_import_contracts_hold():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert " 0 broken" in result.stdout


def test_a_forbidden_import_breaks_a_contract(tmp_path):
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    assert lint_imports(tmp_path).returncode == 0  # the copy is as good as the original

    with open(tmp_path / "builder" / "git.py", "a") as fh:
        fh.write("\nfrom web import create_app  # noqa: E402,F401 - an adapter reaching for an entry point\n")
    result = lint_imports(tmp_path)
    assert result.returncode != 0
    assert "The core and the adapters never import the entry points BROKEN" in result.stdout
    assert "builder.git -> web" in result.stdout


def test_no_module_imports_itself_back():
    graph = grimp.build_graph(*PACKAGES, cache_dir=None, exclude_type_checking_imports=True)
    assert module_cycles(graph) == []


def test_the_cycle_check_finds_circles():
    graph = grimp.ImportGraph()
    for importer, imported in [("app.a", "app.b"), ("app.b", "app.c"), ("app.c", "app.a"), ("app.c", "app.d"),
                               ("app.e", "app.f"), ("app.f", "app.e")]:
        graph.add_import(importer=importer, imported=imported)
    assert module_cycles(graph) == [["app.a", "app.b", "app.c"], ["app.e", "app.f"]]


def imports_of_test_modules(root: Path) -> list[str]:
    """``file: module`` for every import, under ``root``, of a test module or a conftest."""
    found = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else \
                [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            for name in names:
                last = name.rsplit(".", 1)[-1]
                if name.startswith("tests.") and (last.startswith("test_") or last == "conftest"):
                    found.append(f"{path.relative_to(root.parent)}: {name}")
    return found


def test_tests_share_through_conftest_and_support_only(tmp_path):
    assert imports_of_test_modules(ROOT / "tests") == []

    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_b.py").write_text("def test_b():\n    from tests.web.test_a import helper\n")
    (tmp_path / "tests" / "test_c.py").write_text("from tests.conftest import push_payload\n")
    assert imports_of_test_modules(tmp_path / "tests") == ["tests/test_b.py: tests.web.test_a",
                                                          "tests/test_c.py: tests.conftest"]
