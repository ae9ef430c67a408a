"""The README's keys table from the menus: python scripts/keys_table.py [--write README.md | --check README.md].

Builds the main window off screen (no display, no model, settings in a temporary file, nothing opened), reads every
menu action with a shortcut (viewer.ui.keys_table) and prints the Markdown table; --write replaces the first table
under "## The viewer" in the given file, --check exits 1 when that table differs. The output depends only on the
menus' code: the same on every run.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path


def build_table() -> str:
    os.environ["QT_QPA_PLATFORM"] = "offscreen"  # standard keys (Open, Help) are bound per platform: always this one
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from viewer.ui import keys_table
    from viewer.ui.main_window import MainWindow
    from viewer.ui.settings import Settings

    app = QApplication.instance() or QApplication([])
    with tempfile.TemporaryDirectory() as folder:
        window = MainWindow(Settings(QSettings(str(Path(folder) / "radcam.ini"), QSettings.Format.IniFormat)))
        window.headless = True
        try:
            return keys_table.markdown(window.menus.all_actions())
        finally:
            window.shutdown()
            window.deleteLater()
            app.processEvents()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--write", metavar="README", type=Path, help="replace the keys table in this file")
    where.add_argument("--check", metavar="README", type=Path, help="exit 1 when this file's keys table differs")
    args = parser.parse_args(argv)
    from viewer.ui import keys_table

    path = args.write or args.check
    text = ""
    if path is not None:  # before the window is built: a wrong path is one line, at once
        try:
            text = path.read_text(encoding="utf-8")
            keys_table.readme_table(text)
        except (OSError, UnicodeDecodeError) as exc:
            return _fail(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}")
        except (ValueError, IndexError):  # no section, or no table under it
            return _fail(f"{path} has no keys table (the first table under '## The viewer')")
    table = build_table()
    if path is None:
        sys.stdout.write(table)
        return 0
    if args.check is not None:
        same = keys_table.readme_table(text) == table
        if not same:
            print(f"keys_table: {path}'s keys table is out of date: python scripts/keys_table.py --write {path}",
                  file=sys.stderr)
        return 0 if same else 1
    path.write_text(keys_table.replace_readme_table(text, table), encoding="utf-8")
    return 0


def _fail(message: str) -> int:
    print(f"keys_table: error: {message}", file=sys.stderr)
    return 2

if __name__ == "__main__":
    sys.exit(main())
