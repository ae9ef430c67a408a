"""The installed Qt binding must not corrupt Python's reference counts (a crash hours into a reading session)."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import sys  # noqa: E402

import pytest  # noqa: E402
from PySide6.QtWidgets import QListWidget, QListWidgetItem  # noqa: E402

CALLS = 200
_REPAID: list = []  # references to None given back after a leaking binding, so the test fails instead of aborting


@pytest.mark.parametrize("call", ["setUpdatesEnabled", "addItem", "addItem(item)"])
def test_void_qt_calls_do_not_release_none(qapp, call):
    widget = QListWidget()
    actions = {"setUpdatesEnabled": lambda: widget.setUpdatesEnabled(True),
               "addItem": lambda: widget.addItem("x"),
               "addItem(item)": lambda: widget.addItem(QListWidgetItem("x"))}
    action = actions[call]
    # None's count is the whole process's: a library's thread still running from an earlier test (a PACS transfer's)
    # moves it too. A leaking binding loses one per call every time; take the best of three rounds.
    lost = CALLS
    for _ in range(3):
        before = sys.getrefcount(None)
        for _ in range(CALLS):
            action()
        round_lost = before - sys.getrefcount(None)
        _REPAID.extend([None] * max(round_lost, 0))
        lost = min(lost, round_lost)
        if lost < CALLS // 2:
            break
    # PySide6 6.12.0 loses exactly one reference per call: after enough calls Python aborts ("none_dealloc").
    assert lost < CALLS // 2, f"{call} released None {lost} times in {CALLS} calls (PySide6 {_version()})"


def _version() -> str:
    import PySide6

    return PySide6.__version__
