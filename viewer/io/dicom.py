"""DICOM files: read the header, tell whether there is an image, and turn one frame into a DisplayImage."""

from __future__ import annotations

import struct
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from pydicom import Dataset, dcmread
from pydicom.datadict import dictionary_has_tag
from pydicom.dataelem import DataElement
from pydicom.errors import InvalidDicomError
from pydicom.pixels import apply_color_lut, apply_modality_lut, get_decoder, pixel_array
from pydicom.pixels.utils import get_expected_length
from pydicom.uid import (
    JPEG2000,
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLSLossless,
    JPEGLSNearLossless,
)

from ..errors import NoImageError, StudyError
from .codestreams import check_codestream, frame_bytes, j2k_sign_options
from .failures import NOT_CAUGHT, describe, native_stderr, warning_notes
from .guards import MAX_FRAME_PIXELS, BoundedFile, inflation_problem, is_deflated, jpeg_header_problem

# frame_count, metadata, no_image_reason, shown and syntax_name are part of this module's interface (the loader).
from .header import (
    PIXEL_TAGS,
    auto,
    checked_modality_lut,
    checked_rescale,
    detached,
    file_windows,
    frame_count,
    frame_view,
    metadata,
    no_image_reason,
    pixel_module_problem,
    shown,
    syntax_name,
    tag_of,
)
from .image import DisplayImage, GreyValues
from .windows import covering, lut_windows

__all__ = ["frame_count", "metadata", "no_image_reason", "open_dicom", "read_dataset", "shown", "syntax_name"]

# Elements larger than this stay in the file until used, so headers (and folder listings) read fast.
DEFER_SIZE = "64 KB"
ENCODING_NAMES = {ImplicitVRLittleEndian: "implicit VR little endian",
                  ExplicitVRLittleEndian: "explicit VR little endian",
                  ExplicitVRBigEndian: "explicit VR big endian"}
# Plugins tried first, in this order, for a syntax they decode fully; then every other available plugin in
# pydicom's order, so a file one plugin rejects still opens if another decodes it.
PLUGINS = {JPEG2000Lossless: ("pylibjpeg", "pillow"), JPEG2000: ("pylibjpeg", "pillow"),
           JPEGLSLossless: ("pyjpegls",), JPEGLSNearLossless: ("pyjpegls",), JPEGBaseline8Bit: ("pillow",),
           JPEGExtended12Bit: ("pylibjpeg", "pillow")}
# ... except gdcm, which aborts the whole process on some damaged codestreams (a C++ exception nothing catches: a JPEG
# 2000 frame of height 0, a JPEG with a cut quantisation table): it gets only syntaxes no other installed plugin
# decodes (JPEG Lossless without pylibjpeg-libjpeg).
LAST_RESORT = "gdcm"
ALL_PLUGINS_FAILED = "Unable to decode as exceptions were raised by all available plugins: "
# 12-bit JPEG Extended: only pylibjpeg-libjpeg decodes it, and its GPL-3.0 cannot be a default dependency.
JPEG_EXTENDED_EXTRA = ("12-bit JPEG Extended needs the optional decoder pylibjpeg-libjpeg (GPL-3.0, not installed by "
                       "default): pip install 'radcam[jpeg-extended]'")
# Old ACR-NEMA style files start straight with an element of one of these groups (either byte order).
HEADERLESS_FIRST_GROUPS = (0x0000, 0x0002, 0x0008)


def read_dataset(path: Path) -> tuple[Dataset, list[str]]:
    """Header of a DICOM file (large values deferred) and warnings for the user.

    Raises InvalidDicomError when the file is not DICOM at all, StudyError when its header is cut short.
    """
    notes: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            ds = _read(path, force=False)
        except InvalidDicomError:
            if not _looks_headerless(path):
                raise
            ds = _read_headerless(path)
    if len(ds) == 0:  # pydicom gives up silently (with a warning) when the data set is cut short or garbled
        found = warning_notes(caught)
        why = f" ({found[0]})" if found else ""
        raise StudyError(f"{path}: no DICOM data elements after the file header{why}")
    if not ds.file_meta.get("TransferSyntaxUID"):
        implicit, little = ds.original_encoding
        syntax = ImplicitVRLittleEndian if implicit else (ExplicitVRLittleEndian if little else ExplicitVRBigEndian)
        ds.file_meta.TransferSyntaxUID = syntax
        notes.append(f"no file meta / preamble: read as {ENCODING_NAMES[syntax]}")
    notes += warning_notes(caught)
    return ds, notes


def _read(path: Path, force: bool) -> Dataset:
    with BoundedFile(path) as f:
        deflated = is_deflated(f)
        if deflated and (problem := inflation_problem(f)):
            raise StudyError(f"{path}: {problem}")
        try:
            # pydicom reads deferred values of a deflated file from the file itself, not from what it inflated.
            ds = dcmread(f, defer_size=None if deflated else DEFER_SIZE, force=force)
        except (struct.error, EOFError, OSError) as exc:  # the file ends inside an element, or lengths disagree
            raise StudyError(f"{path}: DICOM header truncated or damaged ({describe(exc)})") from exc
        except RecursionError as exc:  # pydicom recurses once per nested sequence (~5 frames a level)
            raise StudyError(f"{path}: sequences nested too deeply to read") from exc
    # Deferred values are read again by file name; the closed file object itself would only stop the dataset from
    # being pickled (the viewer sends images back from its decoding processes).
    ds.buffer = None
    return ds


def _looks_headerless(path: Path) -> bool:
    with open(path, "rb") as f:
        start = f.read(8)
    if len(start) < 8:
        return False
    return any(int.from_bytes(start[:2], order) in HEADERLESS_FIRST_GROUPS for order in ("little", "big"))


def _read_headerless(path: Path) -> Dataset:
    """A file without preamble and file meta, read as DICOM only when some element of it is one DICOM defines: an
    ICC profile or any binary file starting with two zero bytes would otherwise read as a 'dataset' of junk tags."""
    ds = _read(path, force=True)
    if not any(dictionary_has_tag(elem.tag) for elem in ds):
        raise InvalidDicomError(f"{path}: no DICOM preamble, and no element of a known DICOM attribute")
    return ds


def open_dicom(path: Path, frame: int = 0) -> DisplayImage:
    # pydicom converts values when they are first used and warns then (an invalid UID, a bad VR): those warnings
    # join the image's notes instead of reaching stderr as stray lines.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        image = _open_dicom(path, frame)
    image.metadata["warnings"] = list(dict.fromkeys(image.metadata["warnings"] + warning_notes(caught)))
    return image


def _open_dicom(path: Path, frame: int) -> DisplayImage:
    ds, notes = read_dataset(path)
    reason = no_image_reason(ds)
    if reason:
        raise NoImageError(f"{path}: {reason}")
    problem = pixel_module_problem(ds)
    if problem:
        raise StudyError(f"{path}: {problem}")
    frames = frame_count(ds)
    if not 0 <= frame < frames:
        raise StudyError(f"{path}: frame {frame} out of range: the file has {frames} frame(s) (0..{frames - 1})")
    syntax = ds.file_meta.TransferSyntaxUID
    _check_size(path, ds)
    _check_decodable(path, ds, syntax)
    _check_length(path, ds, syntax)
    data = frame_bytes(path, ds, syntax, frame, frames)
    check_codestream(path, ds, data, frame)
    if data and plugin_order(syntax) == [LAST_RESORT] and (problem := jpeg_header_problem(data)):
        raise StudyError(f"{path}: frame {frame} is a damaged JPEG codestream: {problem}")
    options = j2k_sign_options(ds, syntax, data, notes)
    # Decode one frame from the file: only that frame of native data is read into memory. The syntax is
    # passed because files without file meta have none of their own.
    try:
        with BoundedFile(path) as f, native_stderr() as printed:
            # A deflated file holds its pixels inside the deflated stream: decode them from the (inflated) data set.
            stored = _decode(ds if syntax == DeflatedExplicitVRLittleEndian else f, frame, syntax, options)
    except NOT_CAUGHT:
        raise
    except BaseException as exc:  # noqa: BLE001 — a Rust decoder's panic on damaged data (failures.NOT_CAUGHT)
        stored, printed = _decode_again(path, ds, frame, syntax, options, exc)
    notes += [f"decoder: {line}" for line in printed]
    view = frame_view(ds, frame)
    values: GreyValues | np.ndarray
    last_window = None
    if ds.get("SamplesPerPixel", 1) > 1 or ds.PhotometricInterpretation == "PALETTE COLOR":
        values, windows, invert = _colour(stored, view), [covering(0.0, 255.0)], False
    else:
        view = checked_rescale(checked_modality_lut(view, notes), notes)
        grey = values = GreyValues(stored, lambda a: apply_modality_lut(a, view))
        windows = file_windows(view, notes) + lut_windows(view, notes)
        last_window = auto(grey, view)  # listed last; made now only when the file has no window of its own
        if not windows:
            windows, last_window = [last_window()], None
        invert = view.PhotometricInterpretation == "MONOCHROME1" or view.get("PresentationLUTShape") == "INVERSE"
    return DisplayImage(path=path, frame=frame, frames=frames, kind="dicom", values=values, windows=windows,
                        invert=invert, metadata=metadata(ds, notes), dataset=view, last_window=last_window)


def _decode_again(path: Path, ds: Dataset, frame: int, syntax: UID, options: dict[str, Any],
                  first: BaseException) -> tuple[np.ndarray, list[str]]:
    """Decode from the data set read, after decoding from the file failed with `first`.

    pydicom reads a data set written in another encoding than its transfer syntax names (implicit VR under an
    explicit syntax: one of pydicom's own JPEG test files), but parsing the file again at its pixel data fails.
    """
    if syntax != DeflatedExplicitVRLittleEndian:
        try:
            with native_stderr() as printed:
                stored = _decode(ds, frame, syntax, options)
            return stored, printed
        except NOT_CAUGHT:
            raise
        except BaseException:  # noqa: BLE001 - the first failure is the one to report
            pass
    raise StudyError(f"{path}: cannot decode frame {frame} ({syntax_name(syntax)}): {describe(first)}") from first


def plugin_order(syntax: UID) -> list[str]:
    """The decoder plugins tried for `syntax`, in order: PLUGINS first, then the rest in pydicom's order; gdcm only
    when it is the one plugin there is (LAST_RESORT)."""
    decoder = get_decoder(syntax)
    # pydicom tries its plugins in the order they were added (_available); available_plugins is sorted by name.
    known = list(getattr(decoder, "_available", None) or decoder.available_plugins)
    if len(known) > 1 and LAST_RESORT in known:
        known.remove(LAST_RESORT)
    preferred = [name for name in PLUGINS.get(syntax, ()) if name in known]
    return preferred + [name for name in known if name not in preferred]


def _decode(src: Any, frame: int, syntax: UID, options: dict[str, Any]) -> np.ndarray:  # src: a Dataset or a file
    """pixel_array of one frame (with decoding `options`), trying each of plugin_order(syntax) until one decodes it."""
    if not syntax.is_encapsulated:  # native data: pydicom itself, no plugin
        return pixel_array(src, index=frame, transfer_syntax_uid=syntax, **options)
    failures: dict[str, str] = {}
    first: Exception | None = None
    for plugin in plugin_order(syntax):
        try:
            return pixel_array(src, index=frame, transfer_syntax_uid=syntax, decoding_plugin=plugin, **options)
        except Exception as exc:  # noqa: BLE001 - the next plugin may manage; all failures are reported together
            first = first or exc
            message = " ".join(str(exc).split()).removeprefix(ALL_PLUGINS_FAILED)
            failures[plugin] = message.removeprefix(f"{plugin}: ") if message.startswith(f"{plugin}: ") else \
                describe(exc)
    # Failed before any plugin ran (a broken fragment table, say): that once, as it was raised.
    if first is not None and len(set(failures.values())) == 1 and not str(first).startswith(ALL_PLUGINS_FAILED[:20]):
        raise first
    raise RuntimeError("; ".join(f"{plugin}: {why}" for plugin, why in failures.items()) or "no decoder plugin")


def _check_size(path: Path, ds: Dataset) -> None:
    """Before any decoder allocates: a damaged header can declare 65535 x 65535 over a few bytes of data."""
    pixels = int(ds.Rows) * int(ds.Columns)
    if pixels > MAX_FRAME_PIXELS:
        raise StudyError(f"{path}: image too large: {ds.Rows} x {ds.Columns} = {pixels} pixels a frame "
                         f"(limit {MAX_FRAME_PIXELS})")


def _check_decodable(path: Path, ds: Dataset, syntax: UID) -> None:
    try:
        decoder = get_decoder(syntax)
    except NotImplementedError:
        decoder = None
    if syntax == JPEGExtended12Bit and int(ds.BitsStored) > 8 and (
            decoder is None or "pylibjpeg" not in decoder.available_plugins):
        raise StudyError(f"{path}: {JPEG_EXTENDED_EXTRA}")
    if decoder is None or not decoder.is_available:
        name = syntax_name(syntax)
        what = f"{name} ({shown(syntax)})" if name != "unknown" else f"{shown(syntax)}, which is not one DICOM defines"
        raise StudyError(f"{path}: unsupported transfer syntax {what}: no installed plugin can decode it")


def _check_length(path: Path, ds: Dataset, syntax: UID) -> None:
    """Native pixel data must hold rows x columns x samples x frames; encapsulated data is checked by its decoder."""
    if syntax.is_compressed:
        return
    # keep_deferred: the declared length and file offset of a deferred element, without reading its value.
    elem = ds.get_item(tag_of(next(k for k in PIXEL_TAGS if k in ds)), keep_deferred=True)
    if elem.value is None:
        # length and value_tell are set on deferred elements; pydicom's annotations do not declare them
        have = min(elem.length, max(path.stat().st_size - elem.value_tell, 0))  # type: ignore[attr-defined]
    else:
        have = len(elem.value)
    expected = get_expected_length(ds)
    if have < expected:
        raise StudyError(f"{path}: pixel data truncated: {have} bytes, but rows x columns x frames needs {expected}")


def _colour(stored: np.ndarray, ds: Dataset) -> np.ndarray:
    """RGB uint8 from RGB/YBR (pydicom already converted YBR to RGB) or PALETTE COLOR data."""
    if ds.PhotometricInterpretation == "PALETTE COLOR":
        rgb = apply_color_lut(stored, _native_palette(ds))
        bits = int(ds.RedPaletteColorLookupTableDescriptor[2])
    else:
        rgb, bits = stored, int(ds.BitsStored)
    if bits == 8:
        return np.ascontiguousarray(rgb, dtype=np.uint8)
    scaled: np.ndarray = np.rint(rgb.astype(np.float64) * (255.0 / (2**bits - 1))).astype(np.uint8)
    return scaled


def _native_palette(ds: Dataset) -> Dataset:
    """`ds` with its palette LUT data in the machine's byte order: pydicom 3.0 reads (non-segmented) LUT data in that
    order whatever the file's, so a big-endian 16-bit palette (0..65280) read as 0..255 showed black.
    """
    if ds.original_encoding[1] is not False:  # little endian (or unknown: read as pydicom does)
        return ds
    swapped = detached(ds)
    for colour in ("Red", "Green", "Blue", "Alpha"):
        keyword = f"{colour}PaletteColorLookupTableData"
        data = ds.get(keyword)
        if data and len(data) % 2 == 0:
            words = np.frombuffer(data, ">u2").astype("=u2").tobytes()
            swapped[tag_of(keyword)] = DataElement(tag_of(keyword), "OW", words)
    return swapped
