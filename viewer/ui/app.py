"""`radcam`: the desktop viewer's entry point.

    radcam                          the demo study, explained by the demo model with Grad-CAM
    radcam FILE... [--model FILE] [--method NAME] [--unsafe-model] [--screenshot PATH] [--new-instance]
    radcam NAME.radcam-session [--screenshot PATH]   a review session: its images, its model, the first unreviewed
    radcam --install-desktop-entry | --uninstall-desktop-entry

A second `radcam FILE` while one runs hands FILE to the running window and exits (see single_instance).

The window is shown before anything slow starts: TensorFlow is first imported by the model thread, after the
event loop has painted the window. Errors in the arguments, and no display to show the window on, exit 2 with one
`radcam: error: ...` line.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import cast

from viewer.command_line import ArgumentParser, report_error as error
from viewer.errors import UsageError as ArgumentError  # bad arguments: one line and exit 2, as radcam-cli

EXIT_OK, EXIT_USAGE = 0, 2
SCREENSHOT_DELAY_MS = 150  # let the last paint of the explanation reach the window before grabbing it
SCREENSHOT_TIMEOUT_MS = 300_000  # an unattended --screenshot run never hangs for ever


class Forwarded(Exception):
    """The files went to the RadCAM that is already running; this process has nothing more to do."""


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(prog="radcam", description="RadCAM: see why a chest X-ray classifier decided.")
    parser.add_argument("files", nargs="*", metavar="FILE", help="DICOM/image files, folders or DICOMDIRs "
                        "(default: the demo study)")
    parser.add_argument("--model", metavar="FILE", help="Keras model (.keras/.h5; default: the demo model)")
    parser.add_argument("--method", metavar="NAME", help="explanation method (default: gradcam)")
    parser.add_argument("--unsafe-model", action="store_true",
                        help="allow models that need unsafe deserialisation (they can run code): trust the file")
    parser.add_argument("--screenshot", metavar="PATH", type=Path,
                        help="save a picture of the window once the first explanation is shown, then exit")
    parser.add_argument("--new-instance", action="store_true",
                        help="open a new window even if RadCAM is running (default: hand FILE to the running one)")
    desktop = parser.add_mutually_exclusive_group()
    desktop.add_argument("--install-desktop-entry", action="store_true",
                         help="add RadCAM to this user's application menu and 'Open with' for DICOM, PNG and JPEG")
    desktop.add_argument("--uninstall-desktop-entry", action="store_true",
                         help="remove what --install-desktop-entry added")
    return parser


def _method(name: str | None) -> str | None:
    from viewer.cam import resolve_method
    from viewer.errors import CamError

    if name is None:
        return None
    try:
        return resolve_method(name)
    except CamError as exc:
        raise ArgumentError(str(exc)) from None


def create(argv: Sequence[str] | None = None):
    """Parse `argv`, build and show the window; returns (app, window, args, start) where start() begins the work.

    Raises ArgumentError for bad arguments.
    """
    args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    method = _method(args.method)

    from PySide6.QtGui import QGuiApplication, QIcon
    from PySide6.QtWidgets import QApplication

    from viewer.assets import demo_studies, resource_path

    from . import display, single_instance

    app = cast("QApplication | None", QApplication.instance())  # radcam makes a QApplication, never a core one
    if app is None:
        missing = display.problem()
        if missing:
            raise ArgumentError(missing)
        with display.fatal_as_one_line(error, EXIT_USAGE):
            app = QApplication([sys.argv[0] if sys.argv else "radcam"])
    # --screenshot runs are unattended checks: they never hand over to, nor serve, a user's window.
    single = args.screenshot is None and not args.new_instance
    server = None
    if single:
        if single_instance.forward(args.files):
            raise Forwarded()
        server = single_instance.InstanceServer()
        # Two launches at once (Open with on two files): the one that lost the name hands its files to the other.
        if not server.listening() and single_instance.forward(args.files):
            raise Forwarded()
    # Only now the window's modules (0.6 s): a second `radcam FILE` hands FILE over without them.
    from . import theme
    from .main_window import MainWindow
    from .settings import APPLICATION, ORGANIZATION, Settings

    app.setApplicationName(APPLICATION)
    app.setOrganizationName(ORGANIZATION)
    QGuiApplication.setDesktopFileName("radcam")
    icon = resource_path("icons", "radcam.svg")
    if icon.is_file():
        app.setWindowIcon(QIcon(str(icon)))
    theme.apply(app)

    window = MainWindow(Settings())
    window.headless = args.screenshot is not None
    if method:
        window.controls.set_method(method)
    elif not args.files and not args.model:
        window.controls.set_method("gradcam")  # the demo is always shown with the embedded default
    if server is not None:
        server.setParent(window)
        window.instance_server = server
        server.pathsReceived.connect(window.open_forwarded)
    window.show()

    def start() -> None:
        window.state.explain_pending = True  # the first image is explained even with auto-explain off
        sessions = [f for f in args.files if f.endswith(".radcam-session")]
        if sessions:  # a review session brings its images and its model (a --model given still wins)
            window.sessions.open_session(Path(sessions[0]))
            if args.model:
                window.load_model(Path(args.model), unsafe=args.unsafe_model)
            return
        files = args.files or demo_studies()
        if not files:
            window.report_error("The demo study is not installed (resources/demo is empty): "
                                "open a study with File → Open… (Ctrl+O)")
        else:
            window.open_paths(files)
        model = Path(args.model) if args.model else _demo_model()
        if model is None or not model.is_file():
            window.report_error(f"Model not found: {model or 'the demo model is not installed'}: "
                                "open one with File → Open Model… (Ctrl+M)")
        else:
            window.load_model(model, unsafe=args.unsafe_model)

    return app, window, args, start


def _demo_model() -> Path | None:
    from viewer.model import default_model_path  # importing viewer.model does not import TensorFlow

    path = default_model_path()
    return Path(path) if path else None


def _screenshot(app, window, path: Path) -> None:
    """Save the window to `path` and leave with `code`: 0 after an explanation, 2 after a failure."""
    from PySide6.QtCore import QTimer

    state = {"done": False}

    def finish(code: int, message: str = "") -> None:
        if state["done"]:
            return
        state["done"] = True

        def grab() -> None:
            saved = window.grab().save(str(path))
            if not saved:
                error(f"cannot write the screenshot to {path}")
            if message:
                error(message)
            app.exit(EXIT_OK if saved and code == EXIT_OK else EXIT_USAGE)

        QTimer.singleShot(SCREENSHOT_DELAY_MS, grab)

    window.explanationShown.connect(lambda: finish(EXIT_OK))
    window.errorReported.connect(lambda message: finish(EXIT_USAGE, message))
    QTimer.singleShot(SCREENSHOT_TIMEOUT_MS, lambda: finish(
        EXIT_USAGE, f"no explanation after {SCREENSHOT_TIMEOUT_MS // 1000} s; the screenshot shows where it stopped"))


def _python_stderr_apart_from_fd2() -> None:
    """Python's own stderr on a duplicate of fd 2. The model thread sends fd 2 to a file while TensorFlow starts
    (viewer.stderr_capture, process-wide); a `radcam: error:` line printed meanwhile would vanish with it."""
    try:
        if sys.stderr is None or sys.stderr.fileno() != 2:
            return  # a windowed app without stderr, or a test's captured stream: nothing to keep apart
        sys.stderr.flush()
        sys.stderr = open(os.dup(2), "w", buffering=1, encoding=sys.stderr.encoding, errors="backslashreplace")
    except (OSError, ValueError, AttributeError):
        pass


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    _python_stderr_apart_from_fd2()
    try:
        args = build_parser().parse_args(argv)
        if args.install_desktop_entry or args.uninstall_desktop_entry:
            return desktop_entry(args.install_desktop_entry)
        app, window, args, start = create(argv)
    except ArgumentError as exc:
        error(str(exc))
        return EXIT_USAGE
    except Forwarded:
        return EXIT_OK
    if args.screenshot is not None:
        _screenshot(app, window, args.screenshot)
    return run(app, window, start)


def desktop_entry(install: bool) -> int:
    from . import desktop_entry as entry

    try:
        changed = entry.install() if install else entry.uninstall()
    except OSError as exc:
        error(f"cannot {'install' if install else 'remove'} the desktop entry: {exc.strerror or exc}: "
              f"{getattr(exc, 'filename', '') or entry.data_home()}")
        return EXIT_USAGE
    verb = "installed" if install else "removed"
    print(f"{verb} {len(changed)} file(s) under {entry.data_home()}" if changed else "nothing to remove")
    return EXIT_OK


def run(app, window, start: Callable[[], None]) -> int:
    """The event loop; `start` runs once it turns, so the window is on screen before TensorFlow loads."""
    from PySide6.QtCore import QTimer

    QTimer.singleShot(0, start)
    code = app.exec()
    window.shutdown()  # also after app.exit() from --screenshot, which closes no window
    if not window.clean_exit:
        # A TensorFlow call that cannot be interrupted is still running: leave without waiting for it.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


if __name__ == "__main__":
    sys.exit(main())
