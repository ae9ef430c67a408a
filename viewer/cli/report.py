"""`radcam-cli report SESSION... [--csv FILE] [--html FILE]`: what the readers decided, and how far they agree.

One session: its CSV and HTML report. Several sessions of one worklist (one per reader): also the agreement between
readers. Without --csv or --html, a short summary on stdout.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from viewer.errors import RadcamError


def register(sub) -> None:
    parser = sub.add_parser(
        "report", help="report on review sessions: verdicts, agreement with the model and between readers (CSV, "
                       "HTML)", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="What the readers decided and how far they agree. One session: its verdicts. Several sessions\n"
                    "of one worklist and model (one per reader): also Cohen's kappa between two readers, Fleiss'\n"
                    "for more. Sessions are read only (an open session's lock is left alone).",
        epilog="Without --csv or --html a short summary goes to stdout.\n"
               "exit status: 0 written; 2 bad input (a missing or damaged session, sessions of different models or\n"
               "worklists, an output that exists), one 'radcam: error:' line and nothing written.\n\n"
               "example:\n  radcam-cli report alice.radcam-session bob.radcam-session --csv study.csv "
               "--html study.html --anonymize")
    parser.add_argument("sessions", nargs="+", type=Path, metavar="SESSION",
                        help="a .radcam-session file; several: one per reader of the same worklist")
    parser.add_argument("--csv", type=Path, metavar="FILE",
                        help="one row per reader × image × finding: score, threshold, model decision, verdict, "
                             "note, mark, seconds")
    parser.add_argument("--html", type=Path, metavar="FILE",
                        help="a self-contained page: summary, agreement tables, kappa, a thumbnail of each overlay "
                             "with its verdicts and notes")
    parser.add_argument("--no-overlays", action="store_true",
                        help="HTML thumbnails of the images alone: no model is loaded (faster)")
    parser.add_argument("--anonymize", action="store_true",
                        help="patients and images as pseudonyms (patient_N, radcam_NNN); no name, ID, date or path")
    parser.add_argument("--overwrite", action="store_true", help="replace FILEs that exist")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from viewer.app import report
    from viewer.export import atomic_write

    outputs = [path for path in (args.csv, args.html) if path is not None]
    if args.csv is not None and args.html is not None and args.csv.absolute() == args.html.absolute():
        raise RadcamError(f"--csv and --html are the same file {args.csv}")
    sessions = {session.resolve() for session in args.sessions}
    for path in outputs:  # before any work: a refusal after minutes of thumbnails helps nobody
        if path.resolve() in sessions:
            raise RadcamError(f"{path} is one of the sessions reported on; write the report to another file")
        if path.exists() and not args.overwrite:
            raise RadcamError(f"{path} exists; use --overwrite to replace it")
        if not path.parent.is_dir():
            raise RadcamError(f"cannot write {path}: folder {path.parent} does not exist")
    built = report.build(report.load(args.sessions), anonymize=args.anonymize)
    if args.csv is not None:
        text = report.to_csv(built.rows())
        atomic_write(args.csv, lambda temporary: temporary.write_text(text, encoding="utf-8", newline=""),
                     args.overwrite)
        print(f"wrote {args.csv}")
    if args.html is not None:
        from viewer.app.report_html import html_report

        page = html_report(built, overlays=not args.no_overlays)
        atomic_write(args.html, lambda temporary: temporary.write_text(page, encoding="utf-8"), args.overwrite)
        print(f"wrote {args.html}")
    if not outputs:
        print(report.summary_text(built), end="")
    return 0
