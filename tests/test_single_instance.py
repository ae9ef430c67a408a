"""One RadCAM per user: a live instance keeps its socket whatever a second one does; a dead one's is reclaimed."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import socket  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import uuid  # noqa: E402

import pytest  # noqa: E402

from viewer.ui.single_instance import InstanceServer, forward  # noqa: E402

SECOND_PROCESS = """
import sys
from PySide6.QtCore import QCoreApplication
from viewer.ui.single_instance import InstanceServer
app = QCoreApplication([])
server = InstanceServer(sys.argv[1])
print("listening" if server.listening() else "not listening")
"""


@pytest.fixture
def name():
    return f"radcam-test-{uuid.uuid4().hex[:8]}"


def assert_reaches(qtbot, server, name, path):
    with qtbot.waitSignal(server.pathsReceived, timeout=5000) as blocker:
        assert forward([path], name)
    assert blocker.args[0] == [path]


def test_a_second_server_in_this_process_leaves_the_live_one_alone(qtbot, name, tmp_path):
    live = InstanceServer(name)
    socket_file = live.server.fullServerName()
    second = InstanceServer(name)
    assert live.listening() and not second.listening()
    assert os.path.exists(socket_file)
    assert_reaches(qtbot, live, name, str(tmp_path / "a.dcm"))


def test_a_second_process_leaves_the_live_socket_alone(qtbot, name, tmp_path):
    live = InstanceServer(name)
    for _ in range(2):  # before the fix the second process took the name and removed the socket on exit
        result = subprocess.run([sys.executable, "-c", SECOND_PROCESS, name], capture_output=True, text=True,
                                timeout=60, env=dict(os.environ, QT_QPA_PLATFORM="offscreen"))
        assert result.returncode == 0 and result.stdout.strip() == "not listening", result.stderr[-2000:]
    assert os.path.exists(live.server.fullServerName())
    assert_reaches(qtbot, live, name, str(tmp_path / "b.dcm"))


def test_the_socket_of_a_radcam_that_died_is_taken_over(qtbot, name, tmp_path):
    live = InstanceServer(name)
    path = live.server.fullServerName()
    live.server.close()  # removes the file: leave one behind as a killed process does
    dead = socket.socket(socket.AF_UNIX)
    dead.bind(path)
    dead.close()
    assert os.path.exists(path) and not forward([], name)
    taken = InstanceServer(name)
    assert taken.listening()
    assert_reaches(qtbot, taken, name, str(tmp_path / "c.dcm"))
