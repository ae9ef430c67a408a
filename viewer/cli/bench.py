"""`radcam-cli bench [--json] [--model FILE] [--repeat N]`: RadCAM's speed on this machine, each figure with its
ratio to the floor or to the recipe people use today, and its goal (the measuring is in viewer.bench)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .paths import positive_int

# (figure, label, ratio, what the ratio divides by)
MODEL_ROWS = (
    ("forward_ms", "forward pass, batch 1", None, ""),
    ("gradcam_ms", "Grad-CAM (same image, another method/target)", "gradcam_over_forward", "/ forward pass"),
    ("gradcam_preprocess_ms", "  of which image to model input", None, ""),
    ("gradcam_map_ms", "  of which the map", "gradcam_map_over_forward", "/ forward pass"),
    ("gradcam_new_image_ms", "Grad-CAM of a new image (resize included)", "gradcam_new_image_over_forward",
     "/ forward pass"),
    ("reference_gradcam_ms", "reference Grad-CAM (Keras tutorial)", "gradcam_over_reference", "ours / reference"),
    ("reference_gradcam_correlation", "  its map's correlation with ours", None, ""),
    ("forward_per_image_ms", "forward pass per image, batch {best_batch_size}", None, ""),
    ("scorecam_ms", "Score-CAM, {scorecam_channels} channels", "scorecam_over_forward_batch",
     "/ ({scorecam_channels} x forward per image)"),
    ("reference_scorecam_ms", "reference Score-CAM (naive per-channel loop)", "scorecam_over_reference",
     "ours / reference"),
    ("reference_scorecam_correlation", "  its map's correlation with ours", None, ""),
    ("scorecam_peak_extra_mb", "Score-CAM peak memory, extra", "scorecam_peak_extra_over_reference",
     "ours / reference"),
    ("reference_scorecam_peak_extra_mb", "reference Score-CAM peak memory, extra", None, ""),
    ("faster_scorecam_ms", "Faster Score-CAM, N = {faster_scorecam_channels}", "faster_scorecam_over_gradcam",
     "/ Grad-CAM"),
    ("retraces_while_timed", "tf.function retraces while timed", None, ""),
    ("trust_check_ms", "trust check of one map (curves, ROAD, drop, sanity)", "trust_check_forwards",
     "/ forward pass"),
    ("trust_baselines_ms", "  its baselines (random, edge), once per image and target", "trust_baselines_forwards",
     "/ forward pass"),
    ("trust_first_check_ms", "  first map of an image, baselines included", "trust_first_check_forwards",
     "/ forward pass"),
    ("prescan_images_per_s", "pre-scan, images/s ({prescan_images} DICOM files, decode included)",
     "prescan_over_batched_forward", "/ batched forward images/s"),
    ("batch_explain_images_per_s", "explain --outputs cam,json, images/s ({batch_explain_images} DICOM files)",
     "batch_explain_over_forward", "/ batched forward images/s"),
    ("batch_decode_images_per_s", "  their decode + render alone, images/s ({batch_decode_workers} threads: the bound)",
     "batch_decode_over_forward", "/ batched forward images/s"),
    ("batch_explain_cpu_per_image_ms", "  CPU time per image (user + system): explain", None, ""),
    ("batch_decode_cpu_per_image_ms", "  CPU time per image: decode + render", None, ""),
    ("batch_explain_forward_cpu_per_image_ms", "  CPU time per image: batched forward", None, ""),
)
VIEWER_ROWS = (
    ("dicom_open_ms", "open DICOM 2048x2048 16-bit, uncompressed", None, ""),
    ("dicom_open_j2k_ms", "open DICOM 2048x2048 16-bit, JPEG 2000", "dicom_j2k_over_uncompressed", "/ uncompressed"),
    ("window_level_ms", "window/level 2048x2048 (new window)", None, ""),
    ("overlay_render_ms", "overlay 2048x2048 after a threshold change", None, ""),
    ("overlay_render_cold_ms", "overlay 2048x2048, first render", None, ""),
    ("first_window_ms", "process start to main window", None, ""),
    ("first_heatmap_ms", "process start to first heatmap (demo)", "first_heatmap_over_first_window",
     "/ first window"),
    ("next_image_map_ms", "J to the next image's map, prefetched (demo)", "next_image_map_over_cold",
     "/ not prefetched"),
    ("next_image_map_cold_ms", "J to the next image's map, not prefetched (demo)", None, ""),
    ("worklist_open_10000_ms", "open a worklist of 10,000 images, sorted by score", None, ""),
    ("large_explain_s", "explain a 10,000x10,000 16-bit DICOM, seconds (fresh process)", None, ""),
    ("large_explain_cpu_s", "  its CPU time (user + system), seconds", None, ""),
    ("large_explain_peak_mb", "  its peak memory (RSS)", None, ""),
    ("retrieve_disk_mb_s", "read a study from disk (pydicom)", None, ""),
    ("retrieve_cget_mb_s", "retrieve it from a local Orthanc by C-GET", "retrieve_cget_over_disk", "/ disk"),
    ("retrieve_wado_mb_s", "retrieve it from a local Orthanc by WADO-RS", "retrieve_wado_over_disk", "/ disk"),
)


def register(sub) -> None:
    parser = sub.add_parser("bench", help="benchmark RadCAM on this machine against the usual recipes",
                            description="Time the forward pass, Grad-CAM, Score-CAM, Faster Score-CAM and the "
                            "reference recipes on each model, and the viewer's DICOM open, window/level, overlay "
                            "and start-up; warm-up excluded, median of N samples (a sample: the mean of as many calls "
                            "as take 50 ms). Takes minutes for the default "
                            "model set (DenseNet121's Score-CAM over 1024 channels dominates).")
    parser.add_argument("--json", action="store_true", help="one JSON object with every figure")
    parser.add_argument("--model", type=Path, metavar="FILE",
                        help="benchmark only this model (default: the demo model and a DenseNet121 of CheXNet's "
                             "shape with random weights)")
    parser.add_argument("--repeat", type=positive_int, default=5, metavar="N",
                        help="timed samples per figure, median reported (default 5; at most 3 for a figure whose "
                             "run takes over 10 s)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from viewer.app.prescan import scan_files
    from viewer.bench import run_benchmark

    from .bench_batch import batch_explainer

    report = run_benchmark([args.model] if args.model is not None else None, repeat=args.repeat, say=_say,
                           prescan=scan_files, batch_explain=batch_explainer)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(format_table(report))
    return 0


def _say(message: str) -> None:
    print(f"radcam: bench: {message}", file=sys.stderr, flush=True)


def _value(name: str, value) -> str:
    if value is None:
        return "-"
    if name.endswith("_ms"):
        return f"{value / 1e3:.2f} s" if value >= 10_000 else f"{value:.1f} ms" if value < 100 else f"{value:.0f} ms"
    if name.endswith("_mb_s"):
        return f"{value:.0f} MB/s"
    if name.endswith("_mb"):
        return f"{value:.0f} MB"
    if name.endswith("correlation"):
        return f"{value:.5f}"
    return f"{value:g}"


def _rows(section: dict, rows, info: dict) -> list[tuple[str, ...]]:
    figures, goals = section["figures"], section["goals"]
    out: list[tuple[str, ...]] = []
    for name, label, ratio, ratio_label in rows:
        if name not in figures:
            continue
        goal_key = ratio if ratio in goals else name if name in goals else None
        ratio_text = f"{figures[ratio]:.3g} {ratio_label.format(**info)}" if ratio and figures.get(ratio) is not None \
            else ""
        goal, met = "", ""
        if goal_key:
            goal = goals[goal_key]["goal"]
            met = {True: "yes", False: "NO", None: "-"}[goals[goal_key]["met"]]
        out.append((label.format(**info), _value(name, figures[name]), ratio_text, goal, met))
    return out


def _table(rows: list[tuple[str, ...]]) -> list[str]:
    header = ("figure", "value", "ratio", "goal", "met")
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]
    lines = []
    for row in (header, *rows):
        cells = [row[0].ljust(widths[0]), row[1].rjust(widths[1]), row[2].ljust(widths[2]),
                 row[3].ljust(widths[3]), row[4]]
        lines.append("  " + "  ".join(cells).rstrip())
    return lines


def format_table(report: dict) -> str:
    m = report["machine"]
    lines = [
        f"RadCAM {report['radcam']} benchmark: {m['device']}, {m['cpus_available']} of {m['cpu_count']} CPUs "
        f"({m['processor']}), TensorFlow {m['tensorflow']}, Keras {m['keras']}",
        f"{report['timestamp']}; warm-up excluded, median of {report['repeat']} sample(s) of >= 50 ms each (at most "
        f"3 for a call over 10 s); whole run {report['wall_s']:.0f} s",
        "",
        "viewer",
        *_table(_rows(report["viewer"], VIEWER_ROWS, {})),
    ]
    missing: dict[str, str] = {}  # a figure that could not be made says why (no Orthanc), once per reason
    for figure, note in report["viewer"]["notes"].items():
        if note.startswith("not measured"):
            missing.setdefault(note, figure)
    lines += [f"  {figure}: {note}" for note, figure in missing.items()]
    for model in report["models"]:
        h, w = model["input_size"]
        lines += ["", f"{model['name']}: {h}x{w}x{model['channels']}, layer {model['layer']} "
                      f"{'x'.join(map(str, model['layer_shape']))}, image {model['image']} "
                      f"{'x'.join(map(str, model['display_size']))}, target {model['target']}"]
        lines += _table(_rows(model, MODEL_ROWS, model))
        for figure, note in model["notes"].items():
            if note.startswith("not timed"):
                lines.append(f"  {figure}: {note}")
    return "\n".join(lines)
