"""One RadCAM per user: a second `radcam FILE` hands its files to the running window over a local socket.

Starting a second TensorFlow would cost seconds and gigabytes; "Open with RadCAM" on a DICOM file should add it
to the window the radiologist already has open.
"""

from __future__ import annotations

import getpass
import json
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtNetwork import QLocalServer, QLocalSocket

CONNECT_TIMEOUT_MS = 500


def server_name() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (containers)
        user = "user"
    return f"radcam-{user}"


def forward(paths: list[str], name: str | None = None) -> bool:
    """Send `paths` (made absolute: the running window has another working folder) to a running RadCAM.

    True when one took them; False when none is running.
    """
    socket = QLocalSocket()
    socket.connectToServer(name or server_name())
    if not socket.waitForConnected(CONNECT_TIMEOUT_MS):
        return False
    message = json.dumps([str(Path(p).absolute()) for p in paths]).encode() + b"\n"
    socket.write(message)
    sent = socket.waitForBytesWritten(CONNECT_TIMEOUT_MS)
    socket.disconnectFromServer()
    if socket.state() != QLocalSocket.LocalSocketState.UnconnectedState:
        socket.waitForDisconnected(CONNECT_TIMEOUT_MS)  # destroying a socket mid-close crashes Qt
    return sent


def answers(name: str) -> bool:
    """Whether a RadCAM listens on `name` (it ignores the empty message this connection sends)."""
    socket = QLocalSocket()
    socket.connectToServer(name)
    if not socket.waitForConnected(CONNECT_TIMEOUT_MS):
        return False
    socket.disconnectFromServer()
    if socket.state() != QLocalSocket.LocalSocketState.UnconnectedState:
        socket.waitForDisconnected(CONNECT_TIMEOUT_MS)  # destroying a socket mid-close crashes Qt
    return True


class InstanceServer(QObject):
    """Listens for later launches; emits the paths each one sends (an empty list: just raise the window)."""

    pathsReceived = Signal(list)

    def __init__(self, name: str | None = None, parent: QObject | None = None):
        super().__init__(parent)
        self.server = QLocalServer(self)
        self.name = name or server_name()
        # The name is taken: a socket file left by a RadCAM that crashed is removed, but only when nobody answers
        # on it; removing a live RadCAM's socket would make every later launch start another window.
        if not self.server.listen(self.name) and not answers(self.name):
            QLocalServer.removeServer(self.name)
            self.server.listen(self.name)
        self.server.newConnection.connect(self._accept)

    def listening(self) -> bool:
        return self.server.isListening()

    def _accept(self) -> None:
        # The sender writes one message and disconnects: read it all once, when the connection closes.
        while self.server.hasPendingConnections():
            socket = self.server.nextPendingConnection()
            # A bound method, not a lambda: Qt drops the connection when this server is destroyed first.
            socket.disconnected.connect(self._on_disconnected)
            if socket.state() == QLocalSocket.LocalSocketState.UnconnectedState:
                self._finish(socket)

    def _on_disconnected(self) -> None:
        socket = self.sender()
        if isinstance(socket, QLocalSocket):
            self._finish(socket)

    def _finish(self, socket: QLocalSocket) -> None:
        if socket is None or socket.property("finished"):
            return
        socket.setProperty("finished", True)
        data = bytes(socket.readAll().data())
        socket.deleteLater()
        self._deliver(data)

    def _deliver(self, data: bytes) -> None:
        try:
            paths = json.loads(data)
        except ValueError:
            return  # not one of ours: ignore it
        if isinstance(paths, list) and all(isinstance(p, str) for p in paths):
            self.pathsReceived.emit(paths)
