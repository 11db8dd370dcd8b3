"""Each third-party library has one home module; the CLI stays quick to start."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import clusteradvisor

SRC = Path(clusteradvisor.__file__).resolve().parent
HOMES = {
    "durable_rules_engine": {"engine.py"},
    "durable": {"engine.py"},
    "jinja2": {"memo.py"},
    "click": {"cli.py"},
    "ruamel": {"migrate.py"},
    "docx": {"docx_memo.py"},
    "openpyxl": set(),  # tests only: they read summary.xlsx back; xlsx.py writes it
}


def imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("library", sorted(HOMES))
def test_library_is_imported_only_in_its_home(library: str) -> None:
    importers = {p.name for p in SRC.rglob("*.py") if library in imports(p)}  # packages too (batch/)
    assert importers <= HOMES[library], f"{library} imported outside {HOMES[library]}: {importers}"


def test_the_workbook_writer_needs_the_standard_library_alone() -> None:
    assert imports(SRC / "xlsx.py") <= set(sys.stdlib_module_names) | {"__future__"}


def test_help_does_not_load_the_engine_or_templates() -> None:
    code = "import sys; from clusteradvisor.cli import main; print(sorted(m for m in ('durable_rules_engine', 'jinja2', 'yaml', 'docx') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
