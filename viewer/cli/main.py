"""`radcam-cli`: the headless entry point.

Exit codes (a contract other tools rely on): 0 success; 2 anything wrong with the input or the arguments,
reported as one line `radcam: error: <what and why>` on stderr; 1 an internal error (traceback with --debug).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import traceback
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from viewer import __version__
from viewer.command_line import ArgumentParser, report_error
from viewer.errors import InternalBatchError, RadcamError, UsageError
from viewer.pacs import NETWORK_LOGGERS

from . import commands

EXIT_OK, EXIT_INTERNAL, EXIT_USAGE = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(prog="radcam-cli", description="RadCAM headless: open studies, explain model decisions.")
    parser.add_argument("--version", action="version", version=f"radcam {__version__}")
    parser.add_argument("--debug", action="store_true",
                        help="show tracebacks of internal errors, and library warnings on stderr")
    parser.add_argument("--log", type=Path, metavar="FILE",
                        help="append library warnings (Keras, TensorFlow, pydicom) to FILE; stderr never shows them")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=ArgumentParser)
    for module in commands.ALL:
        module.register(sub)
    return parser


LOG = logging.getLogger("radcam")
LOG.addHandler(logging.NullHandler())  # nothing reaches stderr through logging's last-resort handler
# Libraries that log to stderr with handlers of their own (TensorFlow adds one to "tensorflow").
LIBRARY_LOGGERS = ("tensorflow", "absl", "keras", "h5py", "pydicom", "highdicom", "PIL", "pynetdicom",
                   "dicomweb_client", "urllib3", "keyring")
# NETWORK_LOGGERS (viewer.pacs) at WARNING while a command runs, whatever the root's level: below it pynetdicom dumps
# every identifier it sends (patient names and IDs) and urllib3 every URL (a QIDO query's PatientName), into --log too.


def _forward(record: logging.LogRecord) -> bool:
    """A library's record to the radcam log (it keeps its name, "tensorflow"), once; False: as a logger filter, the
    library's own stderr handler never sees it."""
    if not getattr(record, "radcam_forwarded", False) and not record.name.startswith("radcam"):
        record.radcam_forwarded = True  # LOG's handling reaches the root's handlers again: not a second time
        LOG.handle(record)
    return False


class _ToLog(logging.Handler):
    """On the root while a command runs: a record of a logger with no handler on its way (highdicom's child
    "highdicom.base", which the listed logger's filter never sees; a library not listed) goes to the radcam log, not
    to stderr by logging's last resort."""

    def emit(self, record: logging.LogRecord) -> None:
        _forward(record)


@contextmanager
def warnings_to_log(path: Path | None = None, debug: bool = False) -> Iterator[None]:
    """Library warnings (Keras' "Do not pass an input_shape", ...) go to the `radcam` logger, not to stderr, where
    only progress and the one error line belong; --log FILE keeps them, --debug shows them."""
    handlers: list[logging.Handler] = []
    if path is not None:
        try:
            handlers.append(logging.FileHandler(path, encoding="utf-8", errors="backslashreplace"))
        except OSError as exc:
            raise UsageError(f"cannot write the log {path}: {exc.strerror or exc}") from None
    if debug:
        handlers.append(logging.StreamHandler(sys.stderr))
    level = LOG.level
    for handler in handlers:
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
        LOG.addHandler(handler)
    if handlers:
        LOG.setLevel(logging.DEBUG)

    def to_log(message, category, filename, lineno, file=None, line=None) -> None:
        LOG.warning("%s: %s (%s:%d)", category.__name__, message, filename, lineno)

    from .naming import command_log

    catch_all = _ToLog()
    root = logging.getLogger()
    root.addHandler(catch_all)
    for name in LIBRARY_LOGGERS:
        logging.getLogger(name).addFilter(_forward)
    levels = {name: logging.getLogger(name).level for name in NETWORK_LOGGERS}
    for name in NETWORK_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings(), command_log(LOG):  # restores showwarning and the filters at the end
            warnings.showwarning = to_log
            yield
    finally:
        for name, previous in levels.items():
            logging.getLogger(name).setLevel(previous)
        for name in LIBRARY_LOGGERS:
            logging.getLogger(name).removeFilter(_forward)
        root.removeHandler(catch_all)
        for handler in handlers:
            LOG.removeHandler(handler)
            handler.close()
        LOG.setLevel(level)


class Terminated(KeyboardInterrupt):
    """SIGTERM (`timeout`, a job scheduler): raised where the command stands, so that an image's staged files and
    temporaries are removed on the way out, as for Ctrl+C. A KeyboardInterrupt: no per-image handler takes it (nor
    viewer.io's, which lets KeyboardInterrupt through and turns any other BaseException into a refusal)."""

    received = False  # this process got SIGTERM: the stop is said as one, whatever KeyboardInterrupt reached main


@contextmanager
def _sigterm_unwinds() -> Iterator[None]:
    def terminated(signum, frame):
        Terminated.received = True  # Ray's wait turns the raised Terminated into a plain KeyboardInterrupt
        raise Terminated()

    try:
        previous = signal.signal(signal.SIGTERM, terminated)
    except ValueError:  # not the main thread: the default stays
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    Terminated.received = False
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if not getattr(args, "run", None):
            raise UsageError("no command given; try 'radcam-cli --help'")
        with _sigterm_unwinds(), warnings_to_log(args.log, debug):
            return int(args.run(args) or EXIT_OK)
    except Terminated:
        report_error("terminated")
        return 128 + signal.SIGTERM
    except RadcamError as exc:
        if debug:
            traceback.print_exc()
        report_error(str(exc))
        return EXIT_USAGE
    except InternalBatchError as exc:  # said in one line per image already; the batch went on past it
        report_error(str(exc))
        return EXIT_INTERNAL
    except KeyboardInterrupt:
        if Terminated.received:
            report_error("terminated")
            return 128 + signal.SIGTERM
        report_error("interrupted")
        return 130
    except BrokenPipeError:
        # `radcam-cli ... | head`: the reader left; nothing to report.
        return EXIT_OK
    except Exception as exc:  # noqa: BLE001 — the boundary: anything else is our bug, never a raw traceback
        if debug:
            traceback.print_exc()
        report_error(f"internal error: {type(exc).__name__}: {exc} (run with --debug for the traceback)")
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
