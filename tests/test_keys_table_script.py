"""scripts/keys_table.py and scripts/findings_on_demo.py: a bad input is one line on stderr, before the work."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "keys_table.py"


def _main():
    spec = importlib.util.spec_from_file_location("keys_table_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


@pytest.mark.parametrize("text", [None, "# RadCAM\nno keys here\n", "## The viewer\nno table\n"])
@pytest.mark.parametrize("option", ["--check", "--write"])
def test_an_unusable_readme_is_one_line(tmp_path, capsys, option, text):
    path = tmp_path / "README.md"
    if text is not None:
        path.write_text(text, encoding="utf-8")
    assert _main()([option, str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("keys_table: error: ") and err.count("\n") == 1 and str(path) in err
    assert "Traceback" not in err
    assert text is None or path.read_text(encoding="utf-8") == text  # --write changed nothing


@pytest.mark.parametrize("argv", [["--json", "/nonexistent-folder/rows.json"], ["--threshold", "1.5"]])
def test_findings_on_demo_refuses_bad_options_before_its_run(capsys, argv):
    # scripts/findings_on_demo.py runs every method and layer for minutes: a bad option is said at once.
    spec = importlib.util.spec_from_file_location("findings_on_demo", SCRIPT.with_name("findings_on_demo.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with pytest.raises(SystemExit) as exit_:
        module.main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert ": error: --" in err[-1] and "Traceback" not in "".join(err)
