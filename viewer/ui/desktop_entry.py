"""`radcam --install-desktop-entry`: the menu entry, "Open with RadCAM" for DICOM files, and the icons, per user.

Files go where the freedesktop specifications say ($XDG_DATA_HOME, default ~/.local/share), so a pip install gets a
launcher without root. Exec names the absolute path of this `radcam`, because a virtual environment's bin folder is
usually not on the desktop session's PATH.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from viewer.assets import resource_path

DESKTOP_FILE = "radcam.desktop"  # the name QGuiApplication.setDesktopFileName("radcam") refers to
ICON_NAME = "radcam"
ICON_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)


def data_home() -> Path:
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")


def launcher() -> str:
    """The command that starts this RadCAM: the frozen bundle's executable, else the `radcam` script."""
    if getattr(sys, "frozen", False):
        return sys.executable
    script = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    if script is not None and script.name == "radcam" and script.is_file():
        return str(script.absolute())
    beside_python = Path(sys.executable).parent / "radcam"  # the environment's own script (python -m, tests)
    if beside_python.is_file():
        return str(beside_python)
    return shutil.which("radcam") or "radcam"


def exec_quote(argument: str) -> str:
    """Quote one Exec argument as the Desktop Entry Specification requires (reserved characters, then quotes)."""
    if not any(c in argument for c in ' \t\n"\'\\><~|&;$*?#()`'):
        return argument
    escaped = "".join("\\" + c if c in '"`$\\' else c for c in argument)
    return f'"{escaped}"'


def entry_text(command: str) -> str:
    text = resource_path(DESKTOP_FILE).read_text(encoding="utf-8")
    lines = []
    for line in text.splitlines():
        if line.startswith("Exec="):
            line = f"Exec={exec_quote(command)} %F"
        elif line.startswith("TryExec="):
            line = f"TryExec={command}"
        lines.append(line)
    return "\n".join(lines) + "\n"


def installed_files(home: Path) -> list[tuple[Path, Path | None]]:
    """(destination, shipped source) pairs; the .desktop file's source is None (it is written from a template)."""
    icons = home / "icons" / "hicolor"
    pairs: list[tuple[Path, Path | None]] = [(home / "applications" / DESKTOP_FILE, None),
                                            (icons / "scalable" / "apps" / f"{ICON_NAME}.svg",
                                             resource_path("icons", "radcam.svg"))]
    pairs += [(icons / f"{size}x{size}" / "apps" / f"{ICON_NAME}.png", resource_path("icons", f"radcam_{size}.png"))
              for size in ICON_SIZES]
    return pairs


def install(home: Path | None = None, command: str | None = None) -> list[Path]:
    home = home or data_home()
    written = []
    for destination, source in installed_files(home):
        destination.parent.mkdir(parents=True, exist_ok=True)
        temporary = destination.with_name(destination.name + ".part")
        if source is None:
            temporary.write_text(entry_text(command or launcher()), encoding="utf-8")
        else:
            shutil.copyfile(source, temporary)
        os.replace(temporary, destination)
        written.append(destination)
    _refresh_caches(home)
    return written


def uninstall(home: Path | None = None) -> list[Path]:
    home = home or data_home()
    removed = []
    for destination, _source in installed_files(home):
        if destination.exists():
            destination.unlink()
            removed.append(destination)
    _refresh_caches(home)
    return removed


def _refresh_caches(home: Path) -> None:
    """Tell the desktop about the change where its cache tools exist; without them it notices at next login."""
    for tool, options, folder in (("update-desktop-database", ["-q"], home / "applications"),
                                  ("gtk-update-icon-cache", ["-q", "-t", "-f"], home / "icons" / "hicolor")):
        path = shutil.which(tool)
        if path and folder.is_dir():
            subprocess.run([path, *options, str(folder)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           timeout=30, check=False)
