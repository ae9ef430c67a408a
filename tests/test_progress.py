"""The progress of a command over several images (viewer/cli/progress.py): plain lines when stderr is not a
terminal, a tqdm bar with images/s and the time left on one (a pseudo-terminal here), anonymised labels only."""

from __future__ import annotations

import io
import os
import re
import select
import subprocess
import sys
import time

import pytest

from viewer.cli.model_options import Failures
from viewer.cli.progress import Progress

needs_pty = pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")


def test_plain_lines_when_not_a_terminal():
    stream = io.StringIO()
    progress = Progress(3, stream=stream)
    for label in ("a.dcm", "b\x1b[31m.dcm", "c.png"):
        progress.step(label)
    lines = stream.getvalue().splitlines()
    assert lines[0] == "radcam: [1/3] a.dcm"
    assert lines[2] == "radcam: [3/3] c.png"
    assert len(lines) == 3 and "\x1b" not in stream.getvalue()  # a control character is not sent to the terminal


def test_one_image_says_nothing():
    stream = io.StringIO()
    Progress(1, stream=stream).step("a.dcm")
    assert stream.getvalue() == ""


def _terminal(columns: int = 120) -> tuple[int, int]:
    """A pseudo-terminal (master, slave) of `columns` columns."""
    import fcntl
    import struct
    import termios

    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    return master, slave


def _read_all(fd: int, until, timeout: float) -> bytes:
    """What the terminal showed until `until(said)`, the other end closed or `timeout` s passed."""
    said = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not until(said):
        ready, _, _ = select.select([fd], [], [], 0.2)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # the other end closed
            break
        if not chunk:
            break
        said += chunk
    return said


@needs_pty
def test_on_a_terminal_a_bar_with_rate_and_time_left():
    master, slave = os.openpty()  # no size set: a terminal that says 0 columns still gets a bar
    stream = os.fdopen(slave, "w", encoding="utf-8")
    try:
        progress = Progress(4, stream=stream)
        assert progress.tty
        for i in range(4):
            time.sleep(0.15)
            progress.step(f"/a/very/long/folder/name/that/is/not/shown/radcam_{i:03d}")
        stream.flush()
        said = _read_all(master, until=lambda s: b"4/4" in s and s.endswith(b"\n"), timeout=5).decode()
    finally:
        stream.close()
        os.close(master)
    assert "radcam: [" not in said  # the bar, not the plain lines
    assert re.search(r"\| 4/4 \[00:0\d<00:00,\s*[\d.]+ images/s\] \S*/radcam_003", said), said
    assert "/a/very" not in said  # the end of a long label: its name
    assert "%|" in said and said.endswith("\n")  # the bar's line is ended when the last image is done


@needs_pty
def test_an_error_line_is_not_written_into_the_bar():
    master, slave = _terminal()
    stream = os.fdopen(slave, "w", encoding="utf-8")
    old = sys.stderr
    sys.stderr = stream  # Failures and the bar both write to stderr, as in a command
    try:
        progress = Progress(3)
        failures = Failures(3, "explained")
        progress.step("radcam_001")
        failures.report(ValueError("radcam_002: not an image"))
        progress.step("radcam_002")
        progress.step("radcam_003")
        stream.flush()
        said = _read_all(master, until=lambda s: b"3/3" in s and s.endswith(b"\n"), timeout=5).decode()
    finally:
        sys.stderr = old
        stream.close()
        os.close(master)
    pieces = re.split(r"[\r\n]+", said)
    assert "radcam: error: radcam_002: not an image" in [piece.strip() for piece in pieces], said


@needs_pty
def test_explain_over_a_folder_shows_the_bar_with_anonymised_labels(tmp_path):
    """The real command on a terminal: the bar, no source name in it under --anonymize, JSON lines on stdout."""
    from viewer.assets import demo_studies

    folder = tmp_path / "secret_patient_folder"
    folder.mkdir()
    for number, study in enumerate(demo_studies()[:3]):
        (folder / f"smith_john_{number}{study.suffix}").write_bytes(study.read_bytes())
    master, slave = _terminal()
    child = subprocess.Popen([sys.executable, "-m", "viewer.cli", "explain", str(folder), "--anonymize",
                              "--out", str(tmp_path / "out")],
                             stdout=subprocess.PIPE, stderr=slave, stdin=subprocess.DEVNULL, start_new_session=True)
    os.close(slave)
    try:
        said = _read_all(master, until=lambda s: b"3/3" in s and s.endswith(b"\n"), timeout=240)
        out, _ = child.communicate(timeout=240)
        said += _read_all(master, until=lambda s: False, timeout=1)
    finally:
        if child.poll() is None:
            child.kill()
        os.close(master)
    text = said.decode(errors="replace")
    assert child.returncode == 0, text
    assert re.search(r"3/3 \[.*images/s\] radcam_00\d", text), text
    assert "radcam: [" not in text
    assert "smith" not in text and "secret" not in text
    assert len(out.decode().splitlines()) == 3

