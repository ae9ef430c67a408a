"""Is there a display to open the window on? Said in one line before Qt aborts with its own text.

Without one, Qt prints several lines (on Linux a hint about libxcb-cursor0 even when that library is installed)
and aborts with SIGABRT. RadCAM says instead what is missing and exits 2: the checks before the QApplication
catch the usual cases (no DISPLAY/WAYLAND_DISPLAY), and a Qt message handler turns any other fatal platform
failure (an X server that does not answer, a plugin that cannot load) into one line too.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

HEADLESS_HINT = "radcam-cli works without a display"
# Platforms that need a display server, and the variable that names it; all others (offscreen, minimal, eglfs,
# linuxfb, vnc, cocoa, windows...) draw without one.
SERVER_VARIABLES = {"xcb": "DISPLAY", "wayland": "WAYLAND_DISPLAY"}


def problem(environ: Mapping[str, str] = os.environ, platform: str = sys.platform) -> str | None:
    """Why no window can be opened with this environment, or None when Qt has something to draw on."""
    if platform == "darwin" or platform.startswith(("win", "cygwin")):
        return None  # the platform plugin is the system's own window server
    chosen = [name.split(":")[0].strip() for name in environ.get("QT_QPA_PLATFORM", "").split(";")]
    chosen = [name for name in chosen if name]
    if not chosen:
        if environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY"):
            return None
        return f"no display to open the window on: DISPLAY and WAYLAND_DISPLAY are not set ({HEADLESS_HINT})"
    needs = [_server_variable(name) for name in chosen]
    if any(variable is None or environ.get(variable) for variable in needs):
        return None  # Qt tries each platform in turn: one that can work is enough
    wanted = sorted({variable for variable in needs if variable is not None})
    unset = f"{wanted[0]}, which is not set" if len(wanted) == 1 else f"{' or '.join(wanted)}; neither is set"
    return f"no display to open the window on: QT_QPA_PLATFORM={environ['QT_QPA_PLATFORM']} needs {unset} " \
           f"({HEADLESS_HINT})"


def _server_variable(name: str) -> str | None:
    for prefix, variable in SERVER_VARIABLES.items():
        if name == prefix or name.startswith(prefix + "-"):  # wayland-egl, wayland-brcm...
            return variable
    return None


@contextmanager
def fatal_as_one_line(report: Callable[[str], None], code: int = 2) -> Iterator[None]:
    """While Qt starts its platform: a fatal Qt message becomes one `report`ed line and exit `code`, not abort."""
    from PySide6.QtCore import QtMsgType, qInstallMessageHandler

    notes: list[str] = []

    def handler(kind, context, message: str) -> None:
        if kind != QtMsgType.QtFatalMsg:
            notes.append(" ".join(message.split()))  # Qt explains before it gives up: keep the first reason
            return
        report(f"cannot open the window: {_reason(notes, message)} ({HEADLESS_HINT})")
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)  # Qt aborts right after this handler returns; nothing can be unwound from here

    previous = qInstallMessageHandler(handler)
    try:
        yield
    finally:
        qInstallMessageHandler(previous)


def _reason(notes: list[str], fatal: str) -> str:
    missing = _xcb_plugin_error() if any('plugin "xcb"' in note for note in notes) else None
    if missing:  # Qt's own hint names libxcb-cursor0 whatever library is really missing
        return f"Qt's X11 plugin cannot load: {missing}"
    for note in notes:
        if "could not connect to display" in note.lower():
            return note
    return notes[0] if notes else " ".join(fatal.split(".")[0].split())


def _xcb_plugin_error() -> str | None:
    """The loader's own error for Qt's X11 plugin (the library it lacks), or None when it loads."""
    if not sys.platform.startswith("linux"):
        return None
    from PySide6.QtCore import QLibraryInfo

    plugin = os.path.join(QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath), "platforms", "libqxcb.so")
    if not os.path.isfile(plugin):
        return None
    try:
        ctypes.CDLL(plugin)
    except OSError as exc:
        return str(exc).replace(plugin + ": ", "")
    return None
