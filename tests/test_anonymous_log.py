"""--log under --anonymize: a library's record forwarded to the log is cleaned of source paths like every printed
line (pydicom names the file it was reading when an encapsulated file ends early)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from conftest import run_cli

DEMO = Path(__file__).resolve().parent.parent / "resources" / "demo" / "demo_cr_nodule.dcm"  # RLE: encapsulated


@pytest.fixture
def folder(tmp_path) -> Path:
    folder = tmp_path / "DOE_JOHN_1961"
    folder.mkdir()
    data = DEMO.read_bytes()
    (folder / "DOE_JOHN_chest.dcm").write_bytes(data[: len(data) // 2])  # pydicom warns, naming the file
    return folder


@pytest.mark.parametrize("command", [["predict"], ["explain", "--outputs", "json"]])
def test_the_log_names_no_source_under_anonymize(capsys, caplog, tmp_path, folder, command):
    caplog.set_level(logging.DEBUG)
    log = tmp_path / "radcam.log"
    extra = ["--out", tmp_path / "out"] if command[0] == "explain" else []
    code, out, err = run_cli(capsys, "--log", log, *command, folder, *extra, "--anonymize")
    assert code == 2 and "DOE" not in out + err  # the one image failed, said by its pseudonym
    text = log.read_text(encoding="utf-8")
    assert "End of file reached before delimiter" in text  # the warning is kept, cleaned
    assert "DOE" not in text and "DOE" not in "\n".join(record.getMessage() for record in caplog.records)
    code, out, err = run_cli(capsys, "--log", log, *command, folder, *extra, "--overwrite")  # without: as it is
    assert "DOE_JOHN_chest.dcm" in log.read_text(encoding="utf-8")


def test_an_anonymous_commands_log_filter_goes_with_it(capsys, tmp_path, folder):
    run_cli(capsys, "predict", folder, "--anonymize")
    assert logging.getLogger("radcam").filters == []
