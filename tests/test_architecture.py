"""The package graph only points down (the import-linter contracts in pyproject.toml), and
the command line starts without the heavy libraries."""
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("jax", "sklearn", "matplotlib", "scipy")


def test_import_contracts_are_kept():
    cli = pytest.importorskip("importlinter.cli")
    assert cli.lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True,
                            no_logo=True) == 0


@pytest.mark.parametrize("code", [
    "import hyperlab",
    "import hyperlab.cli.main as m; m.build_parser()",  # what every --help runs
])
def test_start_imports_no_heavy_library(code):
    check = f"{code}; import sys; print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"
