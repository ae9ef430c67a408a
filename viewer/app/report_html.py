"""The review report as one self-contained HTML page: inline CSS, thumbnails as data: URIs, nothing fetched.

Sections: summary (readers, images, reviewed, time), the agreement of model decision and reader verdict per
label, inter-reader kappa, each reader against the model, then every image with its thumbnail, scores, verdicts
and notes. Qt's QTextDocument draws the same page into the viewer's PDF (viewer.ui.report_pdf), so the markup keeps
to what it understands: tables, no flex or grid, CSS on elements and classes.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from html import escape

from viewer import __version__

from .jobs import Reporter
from .report import NO_VERDICT, ImageKey, Reader, Report, duration_text, kappa_text, percent_text, possessive
from .report_thumbs import Thumbnail, thumbnails
from .review import VERDICTS
from .worklist import image_key

STYLE = """
body { font-family: sans-serif; font-size: 10pt; color: #222; margin: 1.5em; }
h1 { font-size: 16pt; } h2 { font-size: 13pt; margin-top: 1.4em; border-bottom: 1px solid #bbb; }
table { border-collapse: collapse; margin: 0.4em 0; }
th, td { border: 1px solid #bbb; padding: 2px 6px; text-align: left; vertical-align: top; }
th { background: #eee; } td.n { text-align: right; }
.agree { color: #176317; } .disagree { color: #a11; font-weight: bold; } .uncertain { color: #8a6d00; }
.why { color: #666; font-style: italic; } .image td { border: none; } .small { font-size: 9pt; color: #555; }
"""


def html_report(report: Report, reporter: Reporter | None = None, thumbs: dict[ImageKey, Thumbnail] | None = None,
                overlays: bool = True) -> str:
    """The page; `thumbs` given (the viewer's) or made here (loads the session's model for overlays)."""
    if thumbs is None:
        thumbs = thumbnails(report, reporter, overlays=overlays)
    parts = [_head(report), _summary(report), _agreement(report), _inter_reader(report), _with_model(report),
             _images(report, thumbs), "</body></html>\n"]
    return "\n".join(parts)


def _head(report: Report) -> str:
    session = report.readers[0].session
    model = session.model
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    about = (f"Model {escape(model.name or 'unnamed')} (SHA-256 {model.sha256[:12]}…), "
             f"{escape(session.settings.method)} maps" if model else "No model")
    return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>RadCAM review report</title>"
            f"<style>{STYLE}</style></head><body>\n<h1>RadCAM review report</h1>\n"
            f"<p class=\"small\">{about}. Made {when} by RadCAM {escape(__version__)}"
            f"{'; patients and images are pseudonyms' if report.anonymize else ''}.</p>")


def _summary(report: Report) -> str:
    rows = []
    for reader in report.readers:
        reviewed, total = reader.session.progress()
        opened = sum(entry.seconds > 0 for entry in reader.session.entries)
        mean = reader.seconds() / opened if opened else 0.0
        source = "" if report.anonymize or reader.path is None else escape(str(reader.path))
        rows.append(f"<tr><td>{escape(reader.name)}</td><td class=\"n\">{total}</td><td class=\"n\">{reviewed}</td>"
                    f"<td class=\"n\">{reader.judged()}</td><td class=\"n\">{duration_text(reader.seconds())}</td>"
                    f"<td class=\"n\">{mean:.1f} s</td><td class=\"small\">{source}</td></tr>")
    common = (f"<p>{len(report.keys)} image(s) are in every reader's session; agreement between readers is "
              "measured on those.</p>" if len(report.readers) > 1 else "")
    return ("<h2>Summary</h2>\n<table><tr><th>reader</th><th>images</th><th>reviewed</th><th>verdicts</th>"
            "<th>time spent</th><th>per image opened</th><th>session</th></tr>\n" + "\n".join(rows)
            + f"</table>\n<p>{len(report.labels)} finding(s) per image: {escape(', '.join(report.labels))}.</p>"
            + common)


def _agreement(report: Report) -> str:
    """Model decision × reader verdict counts per label, one table per reader."""
    columns = [*VERDICTS, NO_VERDICT]
    head = ("<tr><th rowspan=\"2\">finding</th><th colspan=\"4\">model: present</th>"
            "<th colspan=\"4\">model: absent</th><th rowspan=\"2\">no score</th></tr><tr>"
            + "".join(f"<th>{name}</th>" for name in columns * 2) + "</tr>")
    out = ["<h2>Model decision × reader verdict</h2>",
           "<p class=\"small\">Counts of findings; the model's decision is present when the score is at or above "
           "the label's threshold. <i>none</i>: no verdict yet.</p>"]
    for reader in report.readers:
        rows = []
        for label in report.labels:
            counts = report.table(reader, label)
            cells = [counts.get((decision, verdict), 0) for decision in ("present", "absent") for verdict in columns]
            unscored = sum(count for (decision, _), count in counts.items() if not decision)
            rows.append(f"<tr><td>{escape(label)}</td>"
                        + "".join(f"<td class=\"n\">{count}</td>" for count in cells)
                        + f"<td class=\"n\">{unscored}</td></tr>")
        out.append(f"<h3>{escape(reader.name)}</h3>\n<table>{head}\n" + "\n".join(rows) + "</table>")
    return "\n".join(out)


def _inter_reader(report: Report) -> str:
    title = "<h2>Agreement between readers</h2>\n"
    if len(report.readers) < 2:
        return title + "<p>Not enough readers: one session. Give two or more sessions of the same worklist.</p>"
    kind, kappa, items = report.inter_reader()
    rows = [f"<tr><td><b>all findings</b></td><td class=\"n\">{items}</td><td class=\"n\"><b>{kappa_text(kappa)}"
            "</b></td></tr>"]
    for label in report.labels:
        _, value, count = report.inter_reader(label)
        rows.append(f"<tr><td>{escape(label)}</td><td class=\"n\">{count}</td><td class=\"n\">{kappa_text(value)}"
                    "</td></tr>")
    return (title + f"<p>{possessive(kind)} kappa on the readers' calls (present / absent / uncertain: the model's "
            "decision where the reader agrees, the other where they disagree) on the findings every "
            f"reader judged ({len(report.readers)} readers; Cohen's for two, Fleiss' for more). Undefined when "
            "every call is the same.</p>\n<table><tr><th>finding</th><th>judged by all</th>"
            f"<th>{possessive(kind)} κ</th></tr>\n" + "\n".join(rows) + "</table>")


def _with_model(report: Report) -> str:
    rows = []
    for reader in report.readers:
        model = report.with_model(reader)
        rows.append(f"<tr><td>{escape(reader.name)}</td><td class=\"n\">{model.judged}</td>"
                    f"<td class=\"n\">{model.agree}</td><td class=\"n\">{model.disagree}</td>"
                    f"<td class=\"n\">{percent_text(model.percent)}</td><td class=\"n\">{kappa_text(model.kappa)}</td>"
                    f"<td class=\"n\">{model.uncertain}</td><td class=\"n\">{model.unscored}</td></tr>")
    return ("<h2>Each reader against the model</h2>\n<p class=\"small\">The reader's call is the model's decision "
            "when they agree and the opposite when they disagree; Cohen's κ of those calls against the model's. "
            "Uncertain verdicts and findings without a score are left out and counted.</p>\n"
            "<table><tr><th>reader</th><th>judged</th><th>agree</th><th>disagree</th><th>agreement</th>"
            "<th>Cohen's κ</th><th>uncertain</th><th>no score</th></tr>\n" + "\n".join(rows) + "</table>")


def _images(report: Report, thumbs: dict[ImageKey, Thumbnail]) -> str:
    out = ["<h2>Images</h2>"]
    reasons = {thumb.why for thumb in thumbs.values() if not thumb.overlay}
    shared = next(iter(reasons)) if len(reasons) == 1 and all(not t.overlay for t in thumbs.values()) else None
    if shared:  # said once, not under each of hundreds of images
        out.append(f"<p class=\"why\">Images without overlays: {escape(shared)}.</p>")
    for entry in report.entries():
        key = image_key(entry)
        thumb = thumbs.get(key)
        if thumb is not None and thumb.png is not None:
            picture = (f"<img src=\"data:image/png;base64,{base64.b64encode(thumb.png).decode('ascii')}\" "
                       f"alt=\"{'overlay' if thumb.overlay else 'image'}\">")
        else:
            picture = ""
        why = ("<p class=\"why\">No thumbnail.</p>" if thumb is None
               else f"<p class=\"why\">No overlay: {escape(thumb.why)}.</p>" if not thumb.overlay and not shared
               else "")
        names = report.names
        title = " · ".join(escape(part) for part in (
            f"#{entry.id}", names.image(entry) + (f" frame {entry.frame}" if entry.frame else ""),
            names.patient(entry) or names.patient_id(entry), "" if report.anonymize else entry.study_date or "",
            entry.view or "") if part)
        out.append(f"<h3>{title}</h3>\n<table class=\"image\"><tr><td>{picture}{why}</td><td>"
                   f"{_findings(report, key)}</td></tr></table>")
    return "\n".join(out)


def _findings(report: Report, key: ImageKey) -> str:
    readers = [reader for reader in report.readers if key in reader.by_key]
    head = "<tr><th>finding</th><th>score</th><th>model</th>" + "".join(
        f"<th>{escape(reader.name)}</th>" for reader in readers) + "</tr>"
    rows = []
    first = readers[0].by_key[key]
    for label in report.labels:
        score = first.predictions.get(label) if first.predictions else None
        model = readers[0].session.model
        threshold = model.threshold(label) if model else 0.5
        decision = "" if score is None else "present" if score >= threshold else "absent"
        rows.append(f"<tr><td>{escape(label)}</td><td class=\"n\">{'' if score is None else f'{score:.3f}'}</td>"
                    f"<td>{decision}</td>" + "".join(_verdict(report, reader, key, label) for reader in readers)
                    + "</tr>")
    seconds = ", ".join(f"{escape(reader.name)} {reader.by_key[key].seconds:.0f} s" for reader in readers)
    return f"<table>{head}\n" + "\n".join(rows) + f"</table>\n<p class=\"small\">Time on the image: {seconds}</p>"


def _verdict(report: Report, reader: Reader, key: ImageKey, label: str) -> str:
    found = reader.by_key[key].findings.get(label)
    if found is None:
        return "<td></td>"
    note = report.names.clean(found.note)
    mark = f" ({found.mark.kind})" if found.mark else ""
    return (f"<td><span class=\"{found.verdict}\">{found.verdict}</span>{mark}"
            + (f"<br><span class=\"small\">{escape(note)}</span>" if note else "") + "</td>")
