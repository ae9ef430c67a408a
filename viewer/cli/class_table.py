"""`radcam-cli evaluate --demo`'s class table: per method, how often each class's map points at its own lesion and
how often at the other one, and the class sensitivity, over two-lesion phantoms (viewer.trust.class_report)."""

from __future__ import annotations

import textwrap


def class_table(summaries: dict, count: int) -> str:
    """One row per method of {method: ClassSummary}; a column pair per label."""
    if not summaries:
        return ""
    first = next(iter(summaries.values()))
    labels = list(first.pointing)
    width = max(8, *(len(label) for label in labels))
    rows = [f"Telling the classes apart: {count} two-lesion phantoms (a nodule and a consolidation, apart), every "
            f"label's map; pointing tolerance {first.tolerance:g} px",
            f"{'method':<18} " + " ".join(f"{'own ' + label:>{width + 4}} {'other':>5}" for label in labels)
            + f" {'sensitivity':>11} {'peaks px':>8}"]
    for method, s in summaries.items():
        cells = " ".join(f"{s.pointing[label]:>{width + 4}.2f} {s.other[label]:>5.2f}" for label in labels)
        sensitivity = "-" if s.sensitivity is None else f"{s.sensitivity:.2f}"
        distance = "-" if s.distance is None else f"{s.distance:.0f}"
        rows.append(f"{method:<18} {cells} {sensitivity:>11} {distance:>8}")
    notes = ("own L: rate at which label L's map has its maximum within the tolerance of L's lesion; other: within it "
             "of the other lesion instead (the map shows the wrong finding); sensitivity: mean Pearson correlation "
             "of the highest- and lowest-scoring labels' maps (Rebuffi et al. 2020), near 1 when the method draws "
             "the same map whatever class it is asked about, lower is better; peaks px: mean distance between the "
             "labels' map maxima.")
    return "\n".join([row.rstrip() for row in rows] + textwrap.wrap(notes, 118))
