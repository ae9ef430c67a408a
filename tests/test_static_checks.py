"""ruff, mypy and import-linter, configured in pyproject.toml, run on the source tree as CI runs pytest (.ci/run stays
the README's one test command). Each failure shows the tool's own report.

Caches (.ruff_cache, .mypy_cache, .import_linter_cache in the repository, git-ignored) keep a rerun short: about
0.1 s, 1 s and 0.3 s warm; on a fresh checkout mypy takes about 13 s (2 CPUs), the other two under 0.3 s.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent  # the virtual environment's scripts, where the `test` extra installs the tools


def _run(tool: str, *args: str) -> None:
    executable = BIN / tool
    if not executable.exists():
        found = shutil.which(tool)
        if found is None:
            pytest.fail(f"{tool} is not installed: pip install '.[test]'")
        executable = Path(found)
    done = subprocess.run([str(executable), *args], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{tool} {' '.join(args)} failed:\n{done.stdout}{done.stderr}"


def test_ruff_lint_and_import_order():
    _run("ruff", "check", "--no-fix", ".")


def test_mypy_strict_where_configured_checked_elsewhere():
    _run("mypy")  # files, strict modules and the temporary viewer.ui exception: [tool.mypy] in pyproject.toml


def test_import_contracts_layers_qt_only_in_ui_no_cycles():
    _run("lint-imports")
