"""Desktop integration: the .desktop entry, per-user install/uninstall, and handing files to a running RadCAM."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import shutil  # noqa: E402
import subprocess  # noqa: E402
import uuid  # noqa: E402
from configparser import ConfigParser  # noqa: E402

import pytest  # noqa: E402

from viewer.assets import resource_path  # noqa: E402
from viewer.ui import desktop_entry  # noqa: E402
from viewer.ui.app import main  # noqa: E402

VALIDATOR = shutil.which("desktop-file-validate")
needs_validator = pytest.mark.skipif(VALIDATOR is None, reason="desktop-file-validate is not installed "
                                     "(apt-get install desktop-file-utils)")


def read_entry(path):
    parser = ConfigParser(interpolation=None)
    parser.optionxform = str  # keys are case-sensitive
    parser.read(path, encoding="utf-8")
    return parser["Desktop Entry"]


def test_the_shipped_entry_has_what_desktops_need():
    entry = read_entry(resource_path("radcam.desktop"))
    assert entry["Exec"] == "radcam %F" and entry["Icon"] == "radcam" and entry["Terminal"] == "false"
    assert entry["Categories"] == "Science;MedicalSoftware;ImageProcessing;"  # one main category
    assert set(entry["MimeType"].rstrip(";").split(";")) == {"application/dicom", "image/png", "image/jpeg"}
    assert entry["StartupWMClass"] == "RadCAM"  # X11 WM_CLASS class of the window (Qt: the application name)
    for size in desktop_entry.ICON_SIZES:
        assert resource_path("icons", f"radcam_{size}.png").is_file()


@needs_validator
def test_desktop_file_validate_accepts_the_entry():
    result = subprocess.run([VALIDATOR, str(resource_path("radcam.desktop"))], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "error" not in result.stdout.lower()


def test_install_and_uninstall_for_the_current_user(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "share"))
    assert main(["--install-desktop-entry"]) == 0
    assert "installed 10 file(s)" in capsys.readouterr().out
    installed = tmp_path / "share" / "applications" / "radcam.desktop"
    entry = read_entry(installed)
    command = entry["Exec"].removesuffix(" %F").strip('"')
    assert os.path.isabs(command) or shutil.which(command), entry["Exec"]
    assert (tmp_path / "share" / "icons" / "hicolor" / "48x48" / "apps" / "radcam.png").is_file()
    assert (tmp_path / "share" / "icons" / "hicolor" / "scalable" / "apps" / "radcam.svg").is_file()
    if VALIDATOR:
        result = subprocess.run([VALIDATOR, str(installed)], capture_output=True, text=True)
        assert result.returncode == 0, result.stdout
    assert main(["--uninstall-desktop-entry"]) == 0
    assert not installed.exists() and not any((tmp_path / "share").rglob("radcam*"))
    assert main(["--uninstall-desktop-entry"]) == 0
    assert "nothing to remove" in capsys.readouterr().out


def test_exec_paths_with_spaces_and_quotes_are_quoted():
    assert desktop_entry.exec_quote("/opt/radcam/bin/radcam") == "/opt/radcam/bin/radcam"
    assert desktop_entry.exec_quote("/home/a b/radcam") == '"/home/a b/radcam"'
    assert desktop_entry.exec_quote('/x/$HOME"q`/radcam') == '"/x/\\$HOME\\"q\\`/radcam"'


def test_a_failing_install_is_one_line_exit_2(tmp_path, monkeypatch, capsys):
    def full_disk(source, destination):
        raise OSError(28, "No space left on device", str(destination))

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "share"))
    monkeypatch.setattr(desktop_entry.shutil, "copyfile", full_disk)
    assert main(["--install-desktop-entry"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("radcam: error: cannot install the desktop entry: No space left")


def test_a_second_launch_hands_its_files_to_the_running_window(qtbot, tmp_path):
    from viewer.ui.single_instance import InstanceServer, forward

    name = f"radcam-test-{uuid.uuid4().hex[:8]}"
    assert not forward(["x.dcm"], name)  # nobody listening: the caller starts its own window
    server = InstanceServer(name)
    assert server.listening()
    study = tmp_path / "study.dcm"
    with qtbot.waitSignal(server.pathsReceived, timeout=5000) as blocker:
        assert forward([str(study), "rel.png"], name)
    assert blocker.args[0][0] == str(study)
    assert os.path.isabs(blocker.args[0][1])  # made absolute: the running window has another working folder


def test_radcam_file_while_radcam_runs_opens_it_there_and_exits(qtbot, tmp_path):
    import sys

    from viewer.ui.single_instance import InstanceServer, server_name

    server = InstanceServer(server_name())  # stands in for the running window
    if not server.listening():
        pytest.skip("another RadCAM of this user is running")
    study = tmp_path / "study.dcm"
    env = dict(os.environ, RADCAM_SETTINGS=str(tmp_path / "s.ini"), QT_QPA_PLATFORM="offscreen")
    with qtbot.waitSignal(server.pathsReceived, timeout=30_000) as blocker:
        process = subprocess.Popen([sys.executable, "-c", "import sys; from viewer.ui.app import main; "
                                    f"sys.exit(main([{str(study)!r}]))"], env=env, stderr=subprocess.PIPE)
    assert process.wait(timeout=30) == 0, process.stderr.read().decode()[-2000:]
    assert blocker.args[0] == [str(study)]
    process.stderr.close()


def test_forwarded_files_open_in_the_window(qtbot, tmp_path):
    from PySide6.QtCore import QSettings

    from viewer.assets import demo_studies
    from viewer.ui.main_window import MainWindow
    from viewer.ui.settings import Settings

    window = MainWindow(Settings(QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)))
    window.headless = True
    qtbot.addWidget(window)
    window.show()
    try:
        with qtbot.waitSignal(window.io_thread.finished, timeout=30_000):
            window.open_forwarded([str(demo_studies()[0])])
        assert str(demo_studies()[0]) in window.settings.recent()
    finally:
        window.shutdown()


def test_the_bundle_spec_is_valid_python_naming_files_that_exist():
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    spec = (root / "packaging" / "radcam.spec").read_text()
    tree = ast.parse(spec)  # a syntax error would stop packaging/build.sh
    calls = {node.func.id for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)}
    assert {"Analysis", "PYZ", "EXE", "COLLECT", "BUNDLE"} <= calls  # onedir (COLLECT) plus the macOS .app
    assert "console=False" in spec and "exclude_binaries=True" in spec  # binaries go to the folder: onedir
    assert (root / "packaging" / "radcam_main.py").is_file()
    assert (root / "resources" / "icons" / "radcam_512.png").is_file()
    assert os.access(root / "packaging" / "build.sh", os.X_OK)
