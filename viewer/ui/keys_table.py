"""The README's keys table, generated from the menus' own actions so it cannot miss a key again.

`python scripts/keys_table.py` prints it, `--write README.md` puts it in place of the first table under
"## The viewer", and tests/test_ui_bugs16.py checks that README.md holds exactly this output. Keys are written in
Qt's portable form (Ctrl, not ⌘) as the off-screen platform binds them (the script always uses it, so the output
is the same on every machine).
"""

from __future__ import annotations

from collections.abc import Iterable

from PySide6.QtGui import QAction, QKeySequence

SECTION = "## The viewer"
HEADER = ["| menu | command | keys |", "|---|---|---|"]
# Not menu actions: what the mouse does in the image views (Help → Keyboard Shortcuts says the same).
MOUSE = [("wheel", "zoom (all views follow)"), ("left or middle drag", "pan"),
         ("right drag", "window: horizontal = width, vertical = centre"), ("double-click", "fit"),
         ("Shift+drag", "draw the pointing box (Trust tab)")]
# A window preset's text names the current file's window; the table shows the slot, not one file's value.
STATE_NOTE = " (none in this file)"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def command_text(action: QAction) -> str:
    """The menu text without its mnemonic ampersands ('&&' is a literal '&')."""
    return action.text().replace("&&", "\0").replace("&", "").replace("\0", "&").removesuffix(STATE_NOTE)


def keys(action: QAction) -> list[str]:
    """Its shortcuts in portable form; a standard key the platform leaves unbound (Quit off screen) is left out."""
    texts = (key.toString(QKeySequence.SequenceFormat.PortableText) for key in action.shortcuts())
    return [text for text in texts if text]


def key_text(action: QAction) -> str:
    return ", ".join(f"`{key}`" for key in keys(action))


def markdown(actions: Iterable[tuple[str, QAction]]) -> str:
    """(menu title, action) pairs in menu order, as Menus.all_actions gives them: one row per action with a key,
    the menu named on the first row of its group; the mouse's rows first."""
    lines = list(HEADER)
    lines += [f"| {'mouse' if number == 0 else ''} | {_cell(what)} | {_cell(gesture)} |"
              for number, (gesture, what) in enumerate(MOUSE)]
    previous = None
    for menu, action in actions:
        if not keys(action):
            continue
        shown = menu if menu != previous else ""
        previous = menu
        lines.append(f"| {_cell(shown)} | {_cell(command_text(action))} | {_cell(key_text(action))} |")
    return "\n".join(lines) + "\n"


def _table_span(lines: list[str]) -> tuple[int, int]:
    """The [start, end) line numbers of the first Markdown table under the viewer's section heading."""
    start = lines.index(SECTION) + 1
    while not lines[start].startswith("|"):
        if lines[start].startswith("## "):
            raise ValueError(f"README.md has no table under {SECTION!r}")
        start += 1
    end = start
    while end < len(lines) and lines[end].startswith("|"):
        end += 1
    return start, end


def readme_table(text: str) -> str:
    lines = text.splitlines()
    start, end = _table_span(lines)
    return "\n".join(lines[start:end]) + "\n"


def replace_readme_table(text: str, table: str) -> str:
    lines = text.splitlines()
    start, end = _table_span(lines)
    return "\n".join(lines[:start] + table.rstrip("\n").splitlines() + lines[end:]) + "\n"
