"""`radcam-cli explain PATH...`: the class-activation map of each image, written as panels, the CAM array and a
JSON sidecar, with one JSON line per image on stdout."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from viewer.errors import RadcamError
from viewer.export.names import printable

from .domain import add_domain_option, check_domain
from .findings import add_option as add_findings_option, findings_output
from .model_options import Failures, Progress, add_model_options, load_model
from .naming import Names, add_key_file_option, check_key_file
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
    add_key_file_option(out)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from viewer.cam import CamEngine, resolve_method
    from viewer.export import OverlayStyle

    method = resolve_method(args.method)  # a typo fails before TensorFlow loads
    check_key_file(args)
    roots = input_paths(args)
    names = Names(args.anonymize, roots)
    files = expand(roots, names)
    _make_folder(args.out)
    start = time.perf_counter()
    model = load_model(args)
    engine = CamEngine(model)
    model_ms = (time.perf_counter() - start) * 1e3
    style = OverlayStyle(threshold=args.threshold, alpha=args.alpha, colormap=args.colormap, contour=args.contour)
    stems = _stems(files, args.frame, args.anonymize)
    progress = Progress(len(files))
    failures = Failures(len(files), "explained", debug=getattr(args, "debug", False))
    try:
        for path, stem in zip(files, stems, strict=True):
            _explain_one(args, path, stem, names, engine, method, style, progress, failures, model_ms)
            model_ms = 0.0  # paid once, reported with the first image
    finally:
        names.write_key(args.key_file, args.overwrite)  # even when the batch ends early: the outputs exist
    failures.check()
    return 0


def _explain_one(args, path: Path, stem: str, names, engine, method: str, style, progress, failures,
                 model_ms: float) -> None:
    """One image of the batch: its files and JSON line, or its one error line; the batch goes on either way."""
    from viewer.export import ModelCard, write_explanation
    from viewer.export.dicom_objects import refuse_without_dicom, window_of
    from viewer.io import open_image

    model = engine.model
    label = names.image(path, stem)  # the pseudonym under --anonymize: a source path often names the patient
    try:
        try:
            t0 = time.perf_counter()
            image = open_image(path, frame=args.frame)
            objects = [kind for kind, wanted in (("gsps", args.dicom_gsps), ("pmap", args.dicom_pmap)) if wanted]
            refuse_without_dicom(image, objects, label)  # before the model's time is spent on it
            domain = check_domain(image, model, label, args.strict_domain, args.anonymize)
            base = image.render()
            t1 = time.perf_counter()
            result = engine.explain(base, method=method, target=args.target, layer=args.layer, top_n=args.top_n,
                                    batch_size=args.batch_size)
            t2 = time.perf_counter()
            extra = findings_output(args, engine, base, result, stem, style.threshold)  # --all-findings
            written = write_explanation(
                args.out, stem, image, base, result, ModelCard.of(model), style, cam_array=True,
                dicom_panels=("overlay",) if args.dicom_sc else (), dicom_objects=objects, window=window_of(image),
                findings=extra.items if extra is not None else None, anonymize=args.anonymize,
                overwrite=args.overwrite, out_of_domain=domain)
            if extra is not None:
                written.append(extra.write())
            t3 = time.perf_counter()
        except RadcamError as exc:
            failures.report(names.error(exc))
            return
        except Exception as exc:  # noqa: BLE001 — a bug met on this image: said, and the batch goes on
            failures.report_internal(label, exc, names.detail(exc))
            return
        line = {
            "image": label, "frame": image.frame, "model": model.name, "method": result.method,
            "layer": result.layer, "target": result.target.as_dict(),
            "predictions": result.predictions, "cam_shape": list(result.cam.shape), "empty": result.empty,
            "device": result.device, "out_of_domain": domain,
            "timings_ms": {"load": round((t1 - t0) * 1e3, 2),
                           "preprocess": round(result.timings_ms["preprocess"], 2),
                           "cam": round(result.timings_ms["cam"], 2), "render": round((t3 - t2) * 1e3, 2),
                           "model_load": round(model_ms, 1)},
            "outputs": [printable(p) for p in written],
        }
        if extra is not None:
            line["findings"] = extra.rows
        print(json.dumps(line), flush=True)
    finally:
        progress.step(label)


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
