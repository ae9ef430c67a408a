"""Where each finding's map points on the demo study with both lesions (issue 16, part 7).

For every CAM method and target layer, each finding of resources/demo/demo_cr_nodule.dcm (nodule, consolidation;
boxes from lesions.json): where its map peaks (inside which lesion's box, if any), the largest CAM value inside its
own box, and how much of its own box the contour at the CAM threshold covers.

    python scripts/findings_on_demo.py [--threshold 0.5] [--layers block4_relu block3_relu] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from viewer.assets import resource_path  # noqa: E402


def boxes(name: str = "demo_cr_nodule.dcm") -> dict[str, tuple[int, int, int, int]]:
    lesions = json.loads(resource_path("demo", "lesions.json").read_text())[name]["lesions"]
    return {lesion["kind"]: tuple(lesion["box"]) for lesion in lesions}


def inside(point: tuple[int, int], box: tuple[int, int, int, int]) -> bool:
    x, y = point
    bx, by, bw, bh = box
    return bx <= x < bx + bw and by <= y < by + bh


def measure(cam: np.ndarray, own: str, lesions: dict[str, tuple[int, int, int, int]], threshold: float) -> dict:
    y, x = np.unravel_index(int(np.argmax(cam)), cam.shape)
    bx, by, bw, bh = lesions[own]
    in_box = cam[by:by + bh, bx:bx + bw]
    peak_in = next((kind for kind, box in lesions.items() if inside((int(x), int(y)), box)), "neither")
    return {"peak": [int(x), int(y)], "peak_in": peak_in, "own_box_max": round(float(in_box.max()), 3),
            "own_box_covered": round(float((in_box >= threshold).mean()), 3),
            "points_at_own": peak_in == own}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threshold", type=float, default=0.5, help="CAM threshold of the contour (default 0.5)")
    parser.add_argument("--layers", nargs="*", default=["block4_relu", "block3_relu", "block2_relu", "block1_relu"])
    parser.add_argument("--json", type=Path, help="also write the rows as JSON")
    args = parser.parse_args(argv)
    # Said before the minutes-long run, not as a traceback at its end.
    if not 0.0 <= args.threshold <= 1.0:
        parser.error(f"--threshold {args.threshold}: a CAM threshold is between 0 and 1")
    if args.json is not None and not args.json.parent.is_dir():
        parser.error(f"--json {args.json}: no folder {args.json.parent}")

    from viewer.cam import METHODS, CamEngine
    from viewer.errors import CamError
    from viewer.io import open_image
    from viewer.model import default_model_path, load_model

    engine = CamEngine(load_model(default_model_path()))
    display = open_image(resource_path("demo", "demo_cr_nodule.dcm")).render()
    lesions = boxes()
    scores = {row["name"]: row["score"] for row in engine.predict(display)}
    print(f"scores: {', '.join(f'{k} {v:.3f}' for k, v in scores.items())}; CAM threshold {args.threshold}")
    print(f"{'method':18} {'layer':12} {'finding':14} {'peak (x, y)':13} {'peak in':14} {'own box max':>11} "
          f"{'own box covered':>15}")
    rows = []
    for method, info in METHODS.items():
        for layer in (args.layers if info.needs_layer else [None]):
            for finding in lesions:
                try:
                    result = engine.explain(display, method=method, target=finding, layer=layer)
                except CamError as exc:  # the original CAM needs GAP → Dense right after the layer
                    print(f"{method:18} {layer:12} {finding:14} not applicable ({str(exc)[:40]}…)")
                    continue
                row = {"method": method, "layer": result.layer, "finding": finding,
                       **measure(result.cam, finding, lesions, args.threshold)}
                rows.append(row)
                print(f"{method:18} {row['layer']:12} {finding:14} {str(tuple(row['peak'])):13} {row['peak_in']:14} "
                      f"{row['own_box_max']:11.2f} {row['own_box_covered']:15.0%}")
    both = {(r["method"], r["layer"]) for r in rows if r["points_at_own"]}
    both = {pair for pair in both if all(r["points_at_own"] for r in rows if (r["method"], r["layer"]) == pair)}
    print(f"method/layer pairs whose every finding peaks in its own lesion: {sorted(both) or 'none'}")
    if args.json:
        try:
            args.json.write_text(json.dumps(rows, indent=1))
        except OSError as exc:
            print(f"findings_on_demo: error: cannot write {args.json}: {exc.strerror or exc}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
