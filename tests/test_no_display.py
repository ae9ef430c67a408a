"""`radcam` without a display: one line saying what is missing, exit 2, never Qt's abort (SIGABRT, rc 134)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from viewer.ui.display import problem

DISPLAY_VARIABLES = ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")


def radcam(tmp_path, *args, code=None, **variables):
    """`radcam ARGS` (or Python `code`) in a fresh process with no display unless `variables` give one."""
    env = {k: v for k, v in os.environ.items() if k not in DISPLAY_VARIABLES}
    env.update(RADCAM_SETTINGS=str(tmp_path / "settings.ini"), XDG_DATA_HOME=str(tmp_path / "share"), **variables)
    command = [sys.executable, "-c", code] if code else [sys.executable, "-m", "viewer.ui.app", *map(str, args)]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("args", [[], ["study.dcm"], ["--new-instance"], ["--screenshot", "shot.png"]])
def test_no_display_is_one_line_and_exit_2(tmp_path, args):
    result = radcam(tmp_path, *args)
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert result.stderr.splitlines() == ["radcam: error: no display to open the window on: DISPLAY and "
                                          "WAYLAND_DISPLAY are not set (radcam-cli works without a display)"]


@pytest.mark.parametrize(("platform", "needs"), [("xcb", "needs DISPLAY, which is not set"),
                                                 ("wayland", "needs WAYLAND_DISPLAY, which is not set"),
                                                 ("wayland;xcb", "needs DISPLAY or WAYLAND_DISPLAY; neither is set")])
def test_a_platform_that_needs_a_display_names_the_variable(tmp_path, platform, needs):
    result = radcam(tmp_path, QT_QPA_PLATFORM=platform)
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"radcam: error: no display to open the window on: QT_QPA_PLATFORM={platform} {needs}")


@pytest.mark.parametrize("variables", [{"DISPLAY": ":4711"}, {"QT_QPA_PLATFORM": "nosuchplatform"}],
                         ids=["an X server that is not there", "an unknown Qt platform"])
def test_a_platform_qt_cannot_start_is_one_line_too(tmp_path, variables):
    result = radcam(tmp_path, **variables)
    assert result.returncode == 2, result.stderr  # Qt's own abort is -6 (SIGABRT)
    (line,) = result.stderr.splitlines()
    assert line.startswith("radcam: error: cannot open the window: ") and line.endswith(
        "(radcam-cli works without a display)")
    assert "xcb-cursor" not in line  # Qt's hint names that library whatever is really missing


def test_what_needs_no_window_still_works_headless(tmp_path):
    installed = radcam(tmp_path, "--install-desktop-entry")
    assert installed.returncode == 0 and installed.stdout.startswith("installed 10 file(s)"), installed.stderr
    assert radcam(tmp_path, "--uninstall-desktop-entry").returncode == 0
    helped = radcam(tmp_path, "--help")
    assert helped.returncode == 0 and "--install-desktop-entry" in helped.stdout
    bad = radcam(tmp_path, "--method", "nosuchmethod")  # the argument is wrong whatever the display
    assert bad.returncode == 2 and len(bad.stderr.splitlines()) == 1 and "nosuchmethod" in bad.stderr


OPEN_THE_WINDOW = ("from viewer.ui.app import create; app, window, args, start = create(['--new-instance']); "
                   "print(app.platformName()); window.shutdown()")


def test_an_offscreen_platform_is_not_refused(tmp_path):
    result = radcam(tmp_path, code=OPEN_THE_WINDOW, QT_QPA_PLATFORM="offscreen")
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.splitlines()[-1] == "offscreen"


@pytest.mark.skipif(shutil.which("Xvfb") is None, reason="Xvfb is not installed (apt-get install xvfb)")
def test_a_real_x_display_is_not_refused(tmp_path):
    read, write = os.pipe()
    server = subprocess.Popen(["Xvfb", "-displayfd", str(write), "-nolisten", "tcp", "-screen", "0", "1280x800x24"],
                              pass_fds=(write,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write)
    try:
        with os.fdopen(read) as chosen:
            display = ":" + chosen.readline().strip()
        result = radcam(tmp_path, code=OPEN_THE_WINDOW, DISPLAY=display)
        if result.returncode == 2 and "cannot load" in result.stderr:
            pytest.skip(result.stderr.strip())  # the machine lacks a library of Qt's X11 plugin: said in one line
        assert result.returncode == 0, result.stderr[-2000:]
        assert result.stdout.splitlines()[-1] == "xcb"
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.mark.parametrize(("environ", "platform"), [
    ({"DISPLAY": ":0"}, "linux"), ({"WAYLAND_DISPLAY": "wayland-0"}, "linux"),
    ({"QT_QPA_PLATFORM": "offscreen"}, "linux"), ({"QT_QPA_PLATFORM": "minimal"}, "linux"),
    ({"QT_QPA_PLATFORM": "offscreen:fontengine=freetype"}, "linux"), ({"QT_QPA_PLATFORM": "xcb;offscreen"}, "linux"),
    ({"QT_QPA_PLATFORM": "wayland-egl", "WAYLAND_DISPLAY": "w"}, "linux"), ({"QT_QPA_PLATFORM": "eglfs"}, "linux"),
    ({}, "darwin"), ({}, "win32")])
def test_displays_and_drawing_platforms_are_accepted(environ, platform):
    assert problem(environ, platform) is None


@pytest.mark.parametrize("environ", [{}, {"QT_QPA_PLATFORM": "xcb"}, {"QT_QPA_PLATFORM": "wayland-egl"},
                                     {"QT_QPA_PLATFORM": "xcb", "WAYLAND_DISPLAY": "w"}, {"DISPLAY": ""}])
def test_missing_displays_are_named(environ):
    assert problem(environ, "linux").startswith("no display to open the window on: ")
