"""Encapsulated frames read from the file (one at a time), and what their codestreams say that the header may not:
their size (checked before a decoder allocates it) and, for JPEG 2000, their signedness."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydicom import Dataset
from pydicom.encaps import get_frame
from pydicom.pixels.utils import get_j2k_parameters
from pydicom.uid import UID, JPEG2000TransferSyntaxes, RLELossless

from ..errors import StudyError
from .guards import BoundedFile, codestream_size
from .header import tag_of


def frame_bytes(path: Path, ds: Dataset, syntax: UID, frame: int, frames: int) -> bytes | None:
    """The encapsulated codestream of `frame`, or None (native data, RLE, or a fragment table too broken to read:
    the decoder reports that in its own words)."""
    if not syntax.is_compressed or syntax == RLELossless:
        return None
    offsets = ds.get("ExtendedOffsetTable"), ds.get("ExtendedOffsetTableLengths")
    # The frame is read from the file, not through ds.PixelData: that would keep the whole value in the dataset.
    elem = ds.get_item(tag_of("PixelData"), keep_deferred=True)
    extended = offsets if all(o is not None for o in offsets) else None
    try:
        if elem.value is not None:
            return get_frame(elem.value, frame, number_of_frames=frames, extended_offsets=extended)
        with BoundedFile(path) as f:
            # value_tell is set on deferred elements; pydicom's annotations do not declare it
            f.seek(elem.value_tell)  # type: ignore[attr-defined]
            return get_frame(f, frame, number_of_frames=frames, extended_offsets=extended)
    except Exception:  # noqa: BLE001 - see the docstring
        return None


def check_codestream(path: Path, ds: Dataset, data: bytes | None, frame: int) -> None:
    """A JPEG-family frame's decoder allocates what the codestream declares: refuse more than Rows x Columns."""
    declared = codestream_size(data) if data else None
    if not declared:
        return
    kind, rows, columns = declared
    if rows * columns > int(ds.Rows) * int(ds.Columns):
        raise StudyError(f"{path}: frame {frame} is a {kind} codestream of {rows} x {columns} pixels, more than the "
                         f"{ds.Rows} x {ds.Columns} of its header")
    # A size of 0 leaves the decoder to learn it from later markers (DNL, JPEG-LS LSE): libjpeg then asked for 24 GB
    # for a damaged 150-byte JPEG-LS frame.
    if not rows or not columns:
        raise StudyError(f"{path}: frame {frame} is a {kind} codestream of {rows} x {columns} pixels, not the "
                         f"{ds.Rows} x {ds.Columns} of its header")


def j2k_sign_options(ds: Dataset, syntax: UID, data: bytes | None, notes: list[str]) -> dict[str, Any]:
    """Decoding options that read a JPEG 2000 frame as signed when its codestream and Pixel Representation disagree
    about the sign (with a note saying so); {} when they agree.

    pydicom follows the header: an unsigned codestream under Pixel Representation 1 becomes signed (its test file
    J2K_pixelrep_mismatch.dcm, pydicom #1149, is a CT only then), but a signed codestream under Pixel Representation
    0 keeps only its low bits (or, through Pillow, a level shift), and negative values show as noise. Either way one
    side is wrong, and in both known cases the data is signed: it is read as signed.
    """
    if syntax not in JPEG2000TransferSyntaxes or not data:
        return {}
    try:
        signed = get_j2k_parameters(data).get("is_signed")
    except Exception:  # noqa: BLE001 - no readable SIZ segment: the decoder reports what it finds
        return {}
    header_signed = ds.get("PixelRepresentation") == 1
    if signed is None or bool(signed) == header_signed:
        return {}
    if header_signed:  # pydicom's sign correction already reads it as the header says
        notes.append("JPEG 2000 codestream is unsigned but Pixel Representation is 1: read as signed, as the header "
                     "says")
        return {}
    notes.append("JPEG 2000 codestream is signed but Pixel Representation is 0: read as signed, as the codestream "
                 "says")
    return {"pixel_representation": 1}
