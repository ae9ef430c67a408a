"""How explain, predict and evaluate say what came of an image of a batch (local or Ray: the same lines): its
warnings, and its one error line (an internal error's traceback with --debug), the progress bar stepped."""

from __future__ import annotations

import sys
from collections.abc import Callable, Generator

from viewer.errors import InternalBatchError, RadcamError

from .model_options import Failures
from .progress import Progress, clear_of_bars


def said(outcomes, failures: Failures, clean: Callable[[str], str]) -> Generator:
    """The outcomes that are not errors, in input order, for the command to print; each image's warnings and error
    line said in its turn and the bar stepped after it. Closing this (contextlib.closing: at the end, on Ctrl+C, on a
    single image's error) closes the bar, then `outcomes` (the chunks under way end, a Ray pool stops)."""
    progress = Progress(failures.total)
    try:
        for outcome in outcomes:
            say_warnings(outcome, clean)
            try:
                if outcome.error is not None:
                    say_error(failures, outcome, clean)
                else:
                    yield outcome
            finally:
                progress.step(outcome.label)
    finally:
        progress.close()  # a run stopped early: its last line ends before the error or the summary
        close(outcomes)


def say_warnings(outcome, clean: Callable[[str], str]) -> None:
    if outcome.warnings:
        with clear_of_bars():  # a terminal's progress bar cleared for the lines, then drawn below them
            for warning in outcome.warnings:
                print(clean(warning), file=sys.stderr, flush=True)


def say_error(failures: Failures, outcome, clean: Callable[[str], str]) -> None:
    """The outcome's error as Failures says a per-image error (a RadcamError raised when it is the only image)."""
    from viewer.command_line import report_error

    if not outcome.internal:
        failures.report(RadcamError(clean(outcome.error)))
        return
    if failures.debug and outcome.trace:
        with clear_of_bars():
            print(outcome.trace, file=sys.stderr, end="", flush=True)
    message = f"{outcome.label}: internal error: {clean(outcome.error)} (run with --debug for the traceback)"
    if failures.total == 1:
        raise InternalBatchError(message)
    failures.count += 1
    failures.internal += 1
    with clear_of_bars():
        report_error(message)


def close(outcomes) -> None:
    """The batch's iterator closed: Ctrl+C or a single image's error stops the chunks under way (and a Ray pool)."""
    closing = getattr(outcomes, "close", None)
    if closing is not None:
        closing()
