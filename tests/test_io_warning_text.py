"""A library warning quoting a damaged value (a control byte in Specific Character Set, found by test_fuzz) reaches the
metadata warnings and skip reasons as printable text on one line, as every other message from a file does."""

from __future__ import annotations

import warnings

import numpy as np
from conftest import write_dicom

from viewer.io import open_image
from viewer.io.failures import warning_notes


def test_a_control_byte_in_a_quoted_value_is_shown_printably(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        path = write_dicom(tmp_path / "a.dcm", np.zeros((4, 4), np.uint16), SpecificCharacterSet="ISO_IR 100",
                           PatientName="M\u00fcller")
    path.write_bytes(path.read_bytes().replace(b"ISO_IR 100", b"ISO_IR \x1100"))
    notes = open_image(path).metadata["warnings"]
    assert "Unknown encoding 'ISO_IR ?00' - using default encoding instead" in notes, notes
    assert all(note.isprintable() for note in notes)


def test_warning_notes_are_one_printable_line():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.warn("bad value 'A\x11B'\nsecond line", UserWarning, stacklevel=1)
    assert warning_notes(caught) == ["bad value 'A?B' second line"]
