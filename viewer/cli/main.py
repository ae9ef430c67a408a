"""`radcam-cli`: the headless entry point.

Exit codes (a contract other tools rely on): 0 success; 2 anything wrong with the input or the arguments,
reported as one line `radcam: error: <what and why>` on stderr; 1 an internal error (traceback with --debug).
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Sequence

from viewer import __version__
from viewer.errors import RadcamError

from . import commands
from .modeling import report_error

EXIT_OK, EXIT_INTERNAL, EXIT_USAGE = 0, 1, 2


class UsageError(RadcamError):
    """Bad command-line arguments."""


class _Parser(argparse.ArgumentParser):
    # argparse prints usage and exits by itself; the contract wants one line and exit 2 from main().
    def error(self, message: str):
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="radcam-cli", description="RadCAM headless: open studies, explain model decisions.")
    parser.add_argument("--version", action="version", version=f"radcam {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for module in commands.ALL:
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if not getattr(args, "run", None):
            raise UsageError("no command given; try 'radcam-cli --help'")
        return int(args.run(args) or EXIT_OK)
    except RadcamError as exc:
        if debug:
            traceback.print_exc()
        report_error(str(exc))
        return EXIT_USAGE
    except KeyboardInterrupt:
        report_error("interrupted")
        return 130
    except BrokenPipeError:
        # `radcam-cli ... | head`: the reader left; nothing to report.
        return EXIT_OK
    except Exception as exc:  # the boundary: anything else is our bug, never a raw traceback at a user
        if debug:
            traceback.print_exc()
        report_error(f"internal error: {type(exc).__name__}: {exc} (run with --debug for the traceback)")
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
