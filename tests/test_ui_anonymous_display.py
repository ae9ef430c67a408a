"""View → Anonymise Display hides every patient and file name on screen: the banner's errors and skipped files, the
study tree's tooltips and the skipped list (file names are often patient names)."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from conftest import main_window, write_dicom  # noqa: E402

SECRETS = ("Smith", "Jones", "PID-4471")


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("RADCAM_CACHE_DIR", str(tmp_path / "cache"))
    with main_window(qtbot, tmp_path, size=None) as win:
        win.controls.auto_explain.setChecked(False)
        yield win


def _screen_text(win) -> str:
    """Every text and tooltip of the banner, the status bar, the study tree and the skipped list."""
    texts = [win.banner.message(), win.statusBar().currentMessage(), win.windowTitle()]
    tree = win.browser.tree
    stack = [tree.topLevelItem(i) for i in range(tree.topLevelItemCount())]
    while stack:
        item = stack.pop()
        texts += [item.text(0), item.toolTip(0)]
        stack += [item.child(i) for i in range(item.childCount())]
    for row in range(win.browser.skipped.count()):
        texts += [win.browser.skipped.item(row).text(), win.browser.skipped.item(row).toolTip()]
    return "\n".join(texts)


def test_anonymised_display_shows_no_patient_or_file_name_in_errors_tree_or_skipped_list(qtbot, window, tmp_path):
    folder = tmp_path / "Smith_PID-4471"
    folder.mkdir()
    for name in ("Smith_chest.dcm", "Smith_lateral.dcm"):
        write_dicom(folder / name, np.zeros((8, 8), np.uint8), PatientName="Smith^John", PatientID="PID-4471")
    (folder / "Jones_report.dcm").write_bytes(b"not dicom at all")
    window.menus.anonymous.trigger()
    assert window.state.anonymous
    with qtbot.waitSignal(window.opening.loaded, timeout=30_000):
        window.open_paths([folder])
    qtbot.waitUntil(lambda: window.state.image is not None, timeout=30_000)
    shown = window.state.image.path
    other = next(instance for instance in window.browser.instances() if instance.path != shown)
    other.path.unlink()  # its decode fails with a message that names the file
    errors = []
    window.errorReported.connect(errors.append)
    window.imaging.select(other, 0)
    assert "Smith" not in window.statusBar().currentMessage()  # "Decoding …"
    qtbot.waitUntil(lambda: bool(errors), timeout=30_000)
    shown = _screen_text(window) + "\n" + "\n".join(errors)
    assert "file 1:" in shown  # the skipped file, by number
    for secret in SECRETS:
        assert secret.lower() not in shown.lower(), secret
    window.menus.anonymous.trigger()  # names come back when the reader turns anonymisation off
    assert "Jones_report.dcm" in _screen_text(window)
