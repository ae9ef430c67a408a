"""The text tables of `radcam-cli evaluate`: one per image (methods and baselines as rows), and the demo report."""

from __future__ import annotations

import textwrap

LEGEND = ("del/ins: deletion (lower is better) and insertion (higher) AUC of the target score under the blur fill; "
          "road: ROAD combined score (higher is better; about 0 for a random map); drop: average drop "
          "of the score on the image x map, incr: it rose instead (Chattopadhay et al. 2018); rho/SSIM: "
          "similarity to the map of the model with its top layers re-initialised — sanity passes when |rho| < 0.5 "
          "(Adebayo et al. 2018); verdict: from blur deletion, ROAD and sanity together, against the baselines "
          "(README, 'Can I trust this map?'); hit/energy: map maximum within tolerance of the box, map mass "
          "inside it")
VERDICT_WIDTH = 17  # "model-independent"


def _number(value, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def image_table(lines: list[dict], box) -> str:
    """Methods then the random and edge baselines for one image."""
    scored = [line for line in lines if "error" not in line]
    head = lines[0]["image"]
    if scored:
        head += f"  target {scored[0]['target']['name']} ({_number(scored[0]['confidence']['score'])})"
    columns = (f"{'method':<18} {'del':>6} {'ins':>6} {'road':>6} {'drop':>6} {'incr':>5} {'rho':>6} {'SSIM':>6} "
               f"{'sanity':<6} {'verdict':<{VERDICT_WIDTH}}")
    if box:
        columns += f" {'hit':>4} {'energy':>6}"
        head += f"  box {','.join(map(str, box))}"
    rows = [head, columns]
    for line in lines:
        if "error" in line:
            rows.append(f"{line['method']:<18} {line['error']}")
            continue
        check = line["randomisation"] or {}
        rows.append(_row(line["method"], line, check, box))
    if scored:
        for name, scores in scored[0]["baselines"].items():
            rows.append(_row(f"{name} (baseline)", scores, {}, box))
    why = [f"{line['method']}: {line['verdict_reasons'][0]}" for line in scored if line.get("verdict_reasons")]
    return "\n".join([row.rstrip() for row in rows] + why + textwrap.wrap(LEGEND, 118) + [""])


def _row(name: str, scores: dict, check: dict, box) -> str:
    curves, confidence, road = scores["curves"], scores["confidence"], scores.get("road") or {}
    row = (f"{name:<18} {_number(curves['deletion_auc']):>6} {_number(curves['insertion_auc']):>6} "
           f"{_number(road.get('combined')):>6} "
           f"{_number(confidence['average_drop']):>6} {'yes' if confidence['increase'] else 'no':>5} "
           f"{_number(check.get('spearman'), 2):>6} {_number(check.get('ssim'), 2):>6} "
           f"{check.get('verdict') or '-':<6} {scores.get('verdict') or '-':<{VERDICT_WIDTH}}")
    if box:
        pointing = scores["pointing"]
        row += f" {'yes' if pointing['hit'] else 'no':>4} {_number(pointing['energy'], 2):>6}"
    return row


def _faithful(summary) -> float | None:
    return summary.verdicts.get("faithful", 0) / max(1, summary.n) if summary.verdicts else None


def demo_table(summaries, count: int, model: str, steps: int, seconds: float) -> str:
    """Rates and means per method over the phantoms, baselines last."""
    rows = [f"{count} demo phantoms (one lesion each, nodule/consolidation alternating), model {model}, target = "
            f"the lesion's kind, {steps} deletion/insertion steps",
            f"{'method':<18} {'point':>5} {'energy':>6} {'del':>6} {'ins':>6} {'road':>6} {'drop':>6} {'incr':>5} "
            f"{'|rho|':>6} {'SSIM':>6} {'pass':>5} {'sanity':<6} {'verdict':<{VERDICT_WIDTH}} {'faith':>5} "
            f"{'s/img':>6}"]
    for s in summaries:
        name = f"{s.name} (baseline)" if s.baseline else s.name
        rows.append(f"{name:<18} {s.pointing:>5.2f} {s.energy:>6.3f} {s.deletion_auc:>6.3f} {s.insertion_auc:>6.3f} "
                    f"{_number(s.combined):>6} "
                    f"{s.average_drop:>6.3f} {s.increase:>5.2f} {_number(s.spearman, 2):>6} {_number(s.ssim, 2):>6} "
                    f"{_number(s.passed, 2):>5} {s.sanity or '-':<6} {s.verdict or '-':<{VERDICT_WIDTH}} "
                    f"{_number(_faithful(s), 2):>5} {s.seconds / max(1, s.n):>6.3f}")
    why = [f"{s.name}: {s.verdict_reasons[0]}" for s in summaries if s.verdict_reasons and not s.baseline]
    notes = ("point: pointing-game hit rate (map maximum within the tolerance of the lesion mask); energy: mean map "
             "mass inside the lesion; road: mean ROAD combined score; pass: fraction of phantoms passing the "
             "randomisation check; sanity: mean |rho| < 0.5; verdict: from the means of blur deletion and ROAD "
             "against the baselines' means, and sanity; faith: share of phantoms whose own verdict is faithful; "
             "s/img: seconds per phantom for the map and its measures. "
             f"{LEGEND.split('; drop')[0]}. Took {seconds:.0f} s.")
    return "\n".join([row.rstrip() for row in rows] + why + textwrap.wrap(notes, 118))
