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


def test_a_line_is_cleaned_in_a_moment_over_an_archive():
    """Every warning and error line under --anonymize (and now every log record) is cleaned: with 20,000 images
    named, one regular expression of every path, made again for each line, took 0.6-2 s a line."""
    import time

    from viewer.cli.naming import Names

    names = Names(True, [Path("/archive/nih")])
    for i in range(20_000):
        names.image(Path(f"/archive/nih/DOE_{i:05d}/img_{i:06d}.png"), f"radcam_{i + 1:06d}")
    names.clean("first: the forms are made once")
    start = time.process_time()
    lines = [names.clean(f"radcam: warning: /archive/nih/DOE_{i:05d}/img_{i:06d}.png: out of domain; DOE_{i:05d}")
             for i in range(0, 20_000, 20)]
    assert time.process_time() - start < 1.0  # 1,000 lines
    assert lines[1] == "radcam: warning: radcam_000021: out of domain; folder_21"
    names.image(Path("/archive/nih/late.png"), "radcam_020001")  # a name added later is known at once
    assert names.clean("/archive/nih/late.png") == "radcam_020001"
