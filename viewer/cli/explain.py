"""`radcam-cli explain PATH...`: the class-activation map of each image, written as panels, the CAM array and a
JSON sidecar, with one JSON line per image on stdout."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from contextlib import closing
from pathlib import Path

from viewer.errors import RadcamError

from .cluster_options import add_ray_options, model_args
from .domain import add_domain_option
from .findings import add_option as add_findings_option
from .model_options import Failures, add_model_options, load_model
from .naming import Names, add_key_file_option, check_key_file
from .outcomes import said
from .paths import add_input, expand, input_paths, non_negative_int, positive_int, unit_interval


def register(sub) -> None:
    from viewer.render import COLORMAPS, DEFAULTS

    parser = sub.add_parser("explain", help="explain a model's decision on images: heatmap, overlay, panels, CAM")
    add_input(parser, many=True)
    add_model_options(parser)
    add_domain_option(parser)
    cam = parser.add_argument_group("explanation")
    cam.add_argument("--method", default="gradcam", help="CAM method (see 'radcam-cli methods'; default gradcam)")
    cam.add_argument("--target", metavar="NAME|INDEX", help="class to explain (default: the top-scoring one)")
    cam.add_argument("--layer", help="target layer (see 'radcam-cli layers'; default: the last spatial layer)")
    cam.add_argument("--top-n", type=positive_int, default=32, metavar="N",
                     help="channels used by faster-scorecam (default 32)")
    cam.add_argument("--batch-size", type=positive_int, metavar="N",
                     help="masked images per Score-CAM batch (default: sized to the memory)")
    cam.add_argument("--frame", type=non_negative_int, default=0, help="frame index (multi-frame files)")
    add_findings_option(cam)
    look = parser.add_argument_group("overlay")
    # Defaults from the one table the viewer also reads, so an export with defaults matches the screen.
    look.add_argument("--threshold", type=unit_interval, default=DEFAULTS.cam_threshold, metavar="T",
                      help="CAM threshold: CAM values below T are transparent (not a label's decision threshold; "
                           f"default {DEFAULTS.cam_threshold:g})")
    look.add_argument("--alpha", type=unit_interval, default=DEFAULTS.opacity, metavar="A",
                      help=f"overlay opacity (default {DEFAULTS.opacity:g})")
    look.add_argument("--colormap", choices=COLORMAPS, default=DEFAULTS.colormap,
                      help=f"colour map (default {DEFAULTS.colormap}: perceptually ordered)")
    look.add_argument("--contour", action=argparse.BooleanOptionalAction, default=DEFAULTS.contour,
                      help="outline the region above the CAM threshold (default: "
                           f"{'on' if DEFAULTS.contour else 'off'})")
    out = parser.add_argument_group("output")
    out.add_argument("--out", type=Path, default=Path("radcam-out"), metavar="DIR",
                     help="output folder, created if missing (default ./radcam-out)")
    out.add_argument("--overwrite", action="store_true", help="replace files that exist")
    out.add_argument("--dicom-sc", action="store_true",
                     help="also write the overlay as a DICOM Secondary Capture (STEM_overlay_sc.dcm)")
    out.add_argument("--dicom-gsps", action="store_true",
                     help="also write a DICOM Grayscale Softcopy Presentation State (STEM_gsps.dcm): the contour at "
                          "the CAM threshold and the caption drawn by any PACS viewer over the original, with its "
                          "window (every finding with --all-findings); needs a DICOM original")
    out.add_argument("--dicom-pmap", action="store_true",
                     help="also write the CAM's values as a DICOM Parametric Map (STEM_pmap.dcm, float, at the "
                          "original's resolution); needs a DICOM original")
    out.add_argument("--anonymize", action="store_true",
                     help="no patient data in the DICOM export, the sidecar or the burned-in text, and no source "
                          "path or name in what is printed or written: image N is radcam_NNN everywhere")
    out.add_argument("--outputs", type=_outputs, metavar="LIST",
                     help="which files each image gets, comma-separated, from original, heatmap, overlay, panels, "
                          "cam, json, sc, gsps, pmap (default: original,heatmap,overlay,panels,cam,json; "
                          "--dicom-sc/--dicom-gsps/--dicom-pmap add theirs)")
    out.add_argument("--resume", action="store_true",
                     help="skip images whose complete output set exists (an interrupted run goes on where it "
                          "stopped); not with --overwrite")
    out.add_argument("--workers", type=positive_int, default=os.cpu_count() or 1, metavar="N",
                     help="threads decoding and writing images (default: the CPU count)")
    add_key_file_option(out)
    add_ray_options(parser)
    parser.set_defaults(run=run)


def _outputs(text: str) -> frozenset[str]:
    from viewer.app.batch import OUTPUT_KINDS, parse_outputs

    try:
        return parse_outputs(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{exc}; choose from {','.join(OUTPUT_KINDS)}") from None


def run(args: argparse.Namespace) -> int:
    from viewer.app.batch import DEFAULT_BATCH, run_local

    spec, tasks, names = prepare(args)
    if args.ray is not None:  # each actor loads its own model: none here
        from viewer.app.cluster import resolve_address, run_ray

        outcomes = run_ray(model_args(args), spec, tasks, address=resolve_address(args.ray), actors=args.ray_actors,
                           batch=DEFAULT_BATCH)
        say_outcomes(args, outcomes, len(tasks), names, 0.0)
        return 0
    start = time.perf_counter()
    model = load_model(args)
    model_ms = (time.perf_counter() - start) * 1e3
    from viewer.cam import CamEngine

    engine = CamEngine(model)
    outcomes = run_local(engine, spec, tasks, batch=DEFAULT_BATCH, workers=args.workers)
    say_outcomes(args, outcomes, len(tasks), names, model_ms)
    return 0


def prepare(args: argparse.Namespace):
    """The batch's spec, its tasks in input order and how its images are named; every check that needs no model
    (a method's typo, --key-file, --outputs, the output folder) is done here, before TensorFlow loads."""
    from viewer.app.batch import DEFAULT_OUTPUTS, BatchSpec, ImageTask
    from viewer.cam import resolve_method
    from viewer.export import OverlayStyle

    method = resolve_method(args.method)
    check_key_file(args)
    if args.resume and args.overwrite:
        raise RadcamError("--resume keeps complete output sets and --overwrite replaces them; give one of them")
    outputs = set(args.outputs) if args.outputs is not None else set(DEFAULT_OUTPUTS)
    outputs |= {kind for kind, wanted in (("sc", args.dicom_sc), ("gsps", args.dicom_gsps),
                                          ("pmap", args.dicom_pmap)) if wanted}  # asked for by name: added
    roots = input_paths(args)
    names = Names(args.anonymize, roots)
    try:
        files = expand(roots, names)
        stems = _stems(files, args.frame, args.anonymize)
        labels = [names.image(path, stem) for path, stem in zip(files, stems, strict=True)]
    finally:
        names.named()  # the listing's log records, said now that its files have their pseudonyms
    _make_folder(args.out)
    style = OverlayStyle(threshold=args.threshold, alpha=args.alpha, colormap=args.colormap, contour=args.contour)
    spec = BatchSpec(method=method, target=args.target, layer=args.layer, top_n=args.top_n, frame=args.frame,
                     style=style, outputs=frozenset(outputs), all_findings=args.all_findings,
                     anonymize=args.anonymize, overwrite=args.overwrite, resume=args.resume, out=args.out,
                     strict_domain=args.strict_domain, batch_size=args.batch_size)
    # The pseudonym under --anonymize: a source path often names the patient.
    tasks = [ImageTask(i, *found) for i, found in enumerate(zip(files, stems, labels, strict=True))]
    return spec, tasks, names


def say_outcomes(args: argparse.Namespace, outcomes, total: int, names: Names, model_ms: float) -> None:
    """Each image's warning, JSON line or one error line, in input order (local or Ray: the same lines); the key
    file even when the batch ends early (the outputs exist); exit status 2 (1 for a bug) when any image failed."""
    failures = Failures(total, "explained", debug=getattr(args, "debug", False))
    skipped = 0
    try:
        with closing(said(outcomes, failures, names.clean)) as explained:  # Ctrl+C: the chunks end with whole sets
            for outcome in explained:
                if outcome.skipped:
                    skipped += 1
                elif outcome.line is not None:
                    if model_ms:  # paid once, reported with the first image
                        outcome.line["timings_ms"]["model_load"] = round(model_ms, 1)
                        model_ms = 0.0
                    print(json.dumps(outcome.line), flush=True)
    finally:
        names.write_key(args.key_file, args.overwrite)
    if skipped:
        print(f"radcam: {skipped} of {total} images skipped: their complete output sets exist (--resume)",
              file=sys.stderr, flush=True)
    failures.check()


def _make_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RadcamError(f"cannot create output folder {folder}: {exc.strerror or exc}") from None


def _stems(files: list[Path], frame: int, anonymize: bool) -> list[str]:
    """STEM per image: the file's name, numbered when two inputs share one (a folder of IM0001 files).

    Anonymous exports are radcam_NNN in input order: source file names are often patient names or accessions.
    """
    from viewer.export import explanation_stem

    if anonymize:
        return [explanation_stem(path, frame, i + 1, anonymize=True) for i, path in enumerate(files)]
    stems = [explanation_stem(path, frame) for path in files]
    if len(set(stems)) == len(stems):
        return stems
    return [explanation_stem(path, frame, i + 1, numbered=True) for i, path in enumerate(files)]
