"""File names as text: a name that is not valid UTF-8 (a Latin-1 `Müller.dcm` from an old archive) reaches Python
as str with lone surrogates (PEP 383), which no UTF-8 writer (JSON, CSV, a terminal) accepts."""

from __future__ import annotations

import os
import re

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # C0, DEL and C1: what a terminal acts on


def printable(text: str | os.PathLike) -> str:
    """`text` with each byte that is not UTF-8 written as `\\xNN` (b'M\\xfcller.dcm' → 'M\\\\xfcller.dcm'), and each
    control character too (an escape sequence in a file name would drive the terminal, a newline forge a line):
    always encodable, always one line, and the same name always gives the same text."""
    text = os.fspath(text)
    if isinstance(text, bytes):
        text = os.fsdecode(text)
    try:
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a surrogate that no file name decoded to: show it as an escape
        shown = text.encode("utf-8", "backslashreplace").decode("utf-8")
    else:
        shown = raw.decode("utf-8", "backslashreplace")
    return _CONTROL.sub(lambda match: f"\\x{ord(match.group(0)):02x}", shown)


def printable_tree(value):
    """`value` (dicts, lists, strings, paths) with every string made printable; other values as they are."""
    if isinstance(value, dict):
        return {printable_tree(key): printable_tree(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [printable_tree(item) for item in value]
    if isinstance(value, (str, os.PathLike)):
        return printable(value)
    return value
