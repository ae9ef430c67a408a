"""Entry point of the frozen application (PyInstaller runs this file; the package itself is imported normally)."""

import multiprocessing
import sys

from viewer.ui.app import main

if __name__ == "__main__":
    # Libraries start helper processes (multiprocessing's resource tracker) by running sys.executable, which in a
    # bundle is RadCAM itself: freeze_support() lets such a child run its task instead of parsing our arguments.
    multiprocessing.freeze_support()
    sys.exit(main())
