"""What `radcam-cli` and `radcam` share on the command line: an argument parser whose errors are a `UsageError`
(one line and exit 2 from main(), not argparse's usage text and its own exit), and the one-line error printer.

`radcam-cli` and `radcam` (viewer/ui/app.py) use both.
"""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn, TextIO

from viewer.errors import UsageError
from viewer.export.names import printable


class ArgumentParser(argparse.ArgumentParser):
    """argparse prints usage and exits by itself; the contract wants one line and exit 2 from main()."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def report_error(message: object, stream: TextIO | None = None) -> None:
    """An error as the one line a user sees: `radcam: error: ...`, whitespace collapsed, printable."""
    print(f"radcam: error: {printable(' '.join(str(message).split()))}", file=stream or sys.stderr, flush=True)
