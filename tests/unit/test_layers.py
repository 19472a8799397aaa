"""The layers point one way: a library under ``libs/`` imports no service, and of the project's
own packages only those its ``pyproject.toml`` declares.

A library that imports ``tapmask_tracker`` (as ``tapmask_processing.models`` once did for its
S3 settings, with ``tapmask_runtime`` too, neither declared) cannot be installed, tested or
reused without that service. Every import statement is read from the source (``ast``),
including the ones inside functions, which importing the package would never run.
"""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

LIBS = Path(__file__).resolve().parents[2] / "libs"
SERVICES = frozenset({"tapmask_gateway", "tapmask_tracker", "tapmask_renderer", "tapmask_notifier"})


def _imported_packages(tree: ast.AST) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name.split(".")[0]) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module.split(".")[0]))
    return found


def _own_and_declared(library: Path) -> set[str]:
    """The library's own package and the first-party packages its pyproject depends on."""
    project = tomllib.loads((library / "pyproject.toml").read_text())["project"]
    names = [project["name"], *project.get("dependencies", [])]
    return {re.split(r"[\[<>=~! ;]", name, maxsplit=1)[0].replace("-", "_") for name in names}


def upward_imports(libs: Path) -> list[str]:
    """``path:line imports package`` for each import, under ``libs/*/``, of a service or of a
    first-party package that library does not declare."""
    found = []
    for library in sorted(p.parent for p in libs.glob("*/pyproject.toml")):
        allowed = _own_and_declared(library) - SERVICES
        for path in sorted(library.rglob("*.py")):
            for line, package in _imported_packages(ast.parse(path.read_text(), str(path))):
                if package.startswith("tapmask_") and package not in allowed:
                    found.append(f"{path.relative_to(libs.parent)}:{line} imports {package}")
    return found


def test_no_library_imports_a_service_or_an_undeclared_first_party_package() -> None:
    assert len(list(LIBS.glob("*/pyproject.toml"))) >= 3  # the scan reads the real tree
    assert upward_imports(LIBS) == []


def test_the_scan_finds_the_old_models_imports_hidden_in_a_function(tmp_path: Path) -> None:
    """What the old models.py did: the imports only ran inside its S3 helper."""
    lib = tmp_path / "libs" / "processing"
    (lib / "src").mkdir(parents=True)
    (lib / "pyproject.toml").write_text(
        '[project]\nname = "tapmask-processing"\ndependencies = ["tapmask-schemas", "numpy>=2"]\n'
    )
    (lib / "src" / "models.py").write_text(
        "import tapmask_processing.tracking\n"
        "def client():\n"
        "    from tapmask_runtime.s3 import make_s3_client\n"
        "    import tapmask_tracker.settings\n"
        "    from tapmask_schemas import events\n"
    )
    assert upward_imports(tmp_path / "libs") == [
        "libs/processing/src/models.py:3 imports tapmask_runtime",
        "libs/processing/src/models.py:4 imports tapmask_tracker",
    ]
