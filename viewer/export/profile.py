"""PS3.15 Table E.1-1, Basic Application Level Confidentiality Profile: the action for each attribute, read from the
table dicom-anonymizer generates from the standard for each DICOM edition (never typed by hand here).

Actions: X remove · Z empty · D dummy value · U new UID (consistent per session) · S keep the sequence, de-identify
inside its items (U*: the instance UIDs it references are replaced like every other).
Where the table offers a choice, RadCAM takes the option that is valid whatever the attribute's Type in the IOD
at hand and discloses least: Z/D → Z and X/Z → Z (Type 2 stays present, empty), X/D and X/Z/D → X (a Type 1
attribute under these is in RT and enhanced IODs, never in the Secondary Capture RadCAM writes), X/Z/U* → S.
"""

from __future__ import annotations

from functools import cache

# Imported by name, not through dicom_anonymization_database_selector's importlib, so PyInstaller bundles it.
from dicomanonymizer.dicom_anonymization_databases import dicomfields_2026c as _edition
from pydicom.tag import BaseTag

EDITION = _edition.__name__.rpartition(".")[2]  # dicom-anonymizer's newest table; the DICOM export names it
EDITION_NAME = "DICOM " + EDITION.removeprefix("dicomfields_")

CHOICE = {"X_TAGS": "X", "Z_TAGS": "Z", "D_TAGS": "D", "U_TAGS": "U", "Z_D_TAGS": "Z", "X_Z_TAGS": "Z",
          "X_D_TAGS": "X", "X_Z_D_TAGS": "X", "X_Z_U_STAR_TAGS": "S"}

# RadCAM's pseudonyms: the table allows a dummy for both (Z: "or a non-zero length dummy value").
OVERRIDES = {0x00100010: "D", 0x00100020: "D"}  # PatientName → ANONYMOUS, PatientID → RADCAM-XXXX


@cache
def _tables() -> tuple[dict[int, str], tuple[tuple[int, int, int, int, str], ...]]:
    exact: dict[int, str] = {}
    masked: list[tuple[int, int, int, int, str]] = []
    for category, action in CHOICE.items():
        for entry in getattr(_edition, category):
            if len(entry) == 2:
                exact[(entry[0] << 16) | entry[1]] = action
            else:  # a repeating group: (group, element, group mask, element mask)
                masked.append((*entry, action))
    exact.update(OVERRIDES)
    return exact, tuple(masked)


def action_for(tag: BaseTag) -> str | None:
    """The Basic Profile's action for `tag` (one of X Z D U S), None when the table does not name it."""
    exact, masked = _tables()
    action = exact.get(int(tag))
    if action is not None:
        return action
    group, element = tag >> 16, tag & 0xFFFF
    for g, e, g_mask, e_mask, masked_action in masked:
        if group & g_mask == g & g_mask and element & e_mask == e & e_mask:
            return masked_action
    return None


def profile_size() -> int:
    """How many attributes (and repeating groups) the table names."""
    exact, masked = _tables()
    return len(exact) + len(masked)
