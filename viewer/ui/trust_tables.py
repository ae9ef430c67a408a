"""The Trust tab's small tables, as Qt rich text: the map beside the random and edge baselines, and the classes.

Plain functions of the report dicts (viewer.trust's to_dict() forms), so they are tested without a window.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

from viewer.export.explanation import method_title

from . import theme

ROW = "<tr><td style='white-space:nowrap'>{}</td>{}</tr>"  # a wrapped name doubled a row's height


def _table(header: Sequence[str], rows: Sequence[tuple[str, Sequence[str]]]) -> str:
    head = "".join(f"<th align='right'>{title}</th>" for title in header)
    body = "".join(ROW.format(name, "".join(f"<td align='right'>{cell}</td>" for cell in cells))
                   for name, cells in rows)
    return (f"<table cellspacing='0' cellpadding='2' width='100%'><tr><th></th>{head}</tr>{body}</table>")


def _number(value) -> str:
    return "–" if value is None else f"{value:.3f}"


def curve_table(curves: Mapping, baselines: Mapping[str, Mapping], deletion: str, insertion: str) -> str:
    """Blur deletion (lower is better) and insertion AUC (higher is better) of the map and each baseline."""
    rows = [("<b>this map</b>", (f"<b>{curves['deletion_auc']:.3f}</b>", f"<b>{curves['insertion_auc']:.3f}</b>"))]
    rows += [(name, (_number(found.get("deletion_auc")), _number(found.get("insertion_auc"))))
             for name, found in baselines.items()]
    return _table([f"<span style='color:{deletion}'>deletion ↓</span>",
                   f"<span style='color:{insertion}'>insertion ↑</span>"], rows)


def road_table(road: Mapping, baselines: Mapping[str, Mapping | None]) -> str:
    """ROAD (Rong et al. 2022): the mean target score with the most- (MoRF, lower is better) and least-relevant
    pixels (LeRF, higher is better) imputed away, and the combined score, for the map and each baseline."""
    def cells(found: Mapping | None, bold: bool = False) -> tuple[str, ...]:
        if not found:
            return ("–", "–", "–")
        values = (_number(found.get("morf_mean")), _number(found.get("lerf_mean")), _number(found.get("combined")))
        return tuple(f"<b>{value}</b>" for value in values) if bold else values

    rows = [("<b>this map</b>", cells(road, bold=True))]
    rows += [(name, cells(found)) for name, found in baselines.items()]
    share = road.get("percentiles") or ()
    removed = f"{min(share):.0%}–{max(share):.0%}" if share else "a share"
    return (_table(["MoRF ↓", "LeRF ↑", "combined ↑"], rows)
            + f"<p style='color:{theme.MUTED}'>Target score with {removed} of the pixels replaced by noisy "
            "linear imputation, most- (MoRF) or least-relevant (LeRF) first; combined = mean of (LeRF − MoRF) / 2, "
            "about 0 for a random map.</p>")


def class_table(classes: Mapping, current: str = "", shown_method: str = "") -> str:
    """Every label's map of this image (viewer.trust.classes' to_dict()): the model's score, where the map
    peaks, whether it peaks in the drawn box, and the class sensitivity (how alike the labels' maps are).
    `current`: the label of the map on screen; `shown_method`: its method, when the comparison used another."""
    pointing = classes.get("pointing") or {}
    boxed = any(found is not None for found in pointing.values())
    rows = []
    for label in classes["labels"]:
        peak = classes["peaks"].get(label)
        cells = [f"{classes['scores'][label]:.2f}", f"{peak[0]}, {peak[1]}" if peak else "none"]
        if boxed:
            found = pointing.get(label)
            cells.append("–" if found is None else ("<b>yes</b>" if found["own"] else "no"))
        name = f"<b>{escape(label)} ◀</b>" if label == current else escape(label)
        rows.append((name, cells))
    header = ["score", "peak x, y"] + (["peak in box"] if boxed else [])
    top, bottom, sensitivity = classes["top"], classes["bottom"], classes.get("sensitivity")
    distance = classes.get("distances", {}).get(f"{min(top, bottom, key=classes['labels'].index)}|"
                                                f"{max(top, bottom, key=classes['labels'].index)}")
    said = (f"Class sensitivity: r = <b>{sensitivity:.2f}</b> between the {escape(top)} and {escape(bottom)} maps"
            + (f", peaks {distance:.0f} px apart" if distance is not None else "")
            + ". Lower is better: near 1 the method draws the same map whichever class it is asked about."
            if sensitivity is not None else "Class sensitivity: undefined (a map is empty).")
    method = method_title(classes["method"])
    via = (f" ({shown_method} has no batched pass over the labels: compared through {method})"
           if shown_method and shown_method != method else "")
    return (f"<p style='color:{theme.MUTED}'>{method}{via}; ◀ the label on screen.</p>"
            + _table(header, rows) + f"<p>{said}</p>")
