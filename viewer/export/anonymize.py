"""De-identification of exported data: DICOM (PS3.15 Annex E, Basic Application Level Confidentiality Profile, the
table itself in profile.py), sidecar dicts, and the header line burned into exported images.

One `AnonymizationSession` maps each source UID and patient ID to the same replacement for as long as it lives,
so every file of one export (and of later exports in the same run) stays linked without the originals.
"""

from __future__ import annotations

import re
import secrets
import threading
from collections.abc import Collection
from copy import deepcopy

from pydicom import Dataset
from pydicom.datadict import tag_for_keyword
from pydicom.dataelem import DataElement
from pydicom.sr.codedict import codes
from pydicom.uid import UID_dictionary, generate_uid

from .profile import EDITION_NAME, action_for

ANONYMOUS_NAME = "ANONYMOUS"
DEIDENTIFICATION_METHOD = f"RadCAM: PS3.15 E.1-1 Basic Profile, {EDITION_NAME}"  # LO: at most 64 characters

# D: a dummy value consistent with the VR (PS3.15 E.3.2); strings not listed get DUMMY_TEXT, numbers 0.
DUMMY_TEXT = "ANONYMIZED"
DUMMIES = {"PN": ANONYMOUS_NAME, "DA": "19000101", "TM": "000000", "DT": "19000101000000", "AS": "000Y",
           "DS": "0", "IS": "0", "UR": "http://anonymized.invalid"}
_STRING_VRS = {"AE", "CS", "LO", "LT", "SH", "ST", "UC", "UT"}
_BYTE_VRS = {"OB", "OD", "OF", "OL", "OV", "OW", "UN"}


class AnonymizationSession:
    """Replacement UIDs and patient pseudonyms, the same for the same source value while the session lives.

    Values the session issued map to themselves, so anonymizing an already anonymized dataset changes nothing.
    Thread-safe: a single export and a batch export can run on different threads.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._uids: dict[str, str] = {}
        self._patients: dict[str, str] = {}
        self._issued: set[str] = set()

    def uid(self, source: str) -> str:
        return self._replace(self._uids, source, generate_uid)

    def pseudonym(self, patient_id: str) -> str:
        return self._replace(self._patients, patient_id, lambda: f"RADCAM-{secrets.token_hex(4).upper()}")

    def dummy(self, elem: DataElement):
        """Action D's value for `elem`: the patient ID's pseudonym, else a fixed dummy of the element's VR."""
        if elem.tag == 0x00100020:
            return self.pseudonym(str(elem.value))
        vr = elem.VR
        if vr in DUMMIES:
            return DUMMIES[vr]
        if vr in _STRING_VRS:
            return DUMMY_TEXT
        if vr in _BYTE_VRS:
            return b"\0\0"  # D needs a non-zero length
        return 0  # US, SS, UL, SL, FL, FD, ... (and "US or SS")

    def _replace(self, table: dict[str, str], value: str, new) -> str:
        with self._lock:
            if value in self._issued:
                return value
            if value not in table:
                table[value] = new()
                self._issued.add(table[value])
            return table[value]


# One export session per run of RadCAM: files exported from the same study in one run share study UIDs.
DEFAULT_SESSION = AnonymizationSession()


def anonymize_dataset(ds: Dataset, session: AnonymizationSession | None = None,
                      keep: Collection[str] = ()) -> Dataset:
    """A de-identified copy of `ds` (`ds` itself is left alone); attributes named in `keep` are kept as they are.

    Every attribute PS3.15 Table E.1-1 names, at any depth of sequences; every instance UID (named or not);
    private tags and overlay groups removed."""
    session = session or DEFAULT_SESSION
    out = deepcopy(ds)
    out.remove_private_tags()  # walks every sequence item too
    kept = {tag_for_keyword(keyword) for keyword in keep}
    _apply(out, session, kept)
    meta = getattr(out, "file_meta", None)
    if meta is not None:
        _apply(meta, session, kept)
        if "SOPInstanceUID" in out:
            meta.MediaStorageSOPInstanceUID = out.SOPInstanceUID
    out.PatientIdentityRemoved = "YES"
    out.DeidentificationMethod = DEIDENTIFICATION_METHOD
    code = codes.DCM.BasicApplicationConfidentialityProfile
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = code.value, code.scheme_designator, code.meaning
    out.DeidentificationMethodCodeSequence = [item]
    out.LongitudinalTemporalInformationModified = "REMOVED"
    return out


def _apply(ds: Dataset, session: AnonymizationSession, kept: set) -> None:
    for elem in list(ds):
        if elem.tag in kept:
            continue
        action = action_for(elem.tag)
        values = list(elem.value) if elem.VR != "SQ" and elem.VM > 1 else [elem.value]
        if elem.VR == "UI" and action in ("D", "S") or action is None and elem.VR == "UI" and elem.value and not all(
                str(v) in UID_dictionary for v in values):
            action = "U"  # Annex E replaces every instance UID, named in the table or not; registered UIDs stay
        if action is None and elem.tag.group & 0xFF00 == 0x6000:
            action = "X"  # a whole overlay plane: its data and comments can hold burned-in names
        if action == "X":
            del ds[elem.tag]
        elif action == "Z":
            elem.value = [] if elem.VR == "SQ" else None
        elif action == "D" and elem.VR != "SQ":
            elem.value = session.dummy(elem)
        elif action == "U":
            if elem.value:
                new = [session.uid(str(v)) for v in values]
                elem.value = new if len(new) > 1 else new[0]
        elif elem.VR == "SQ":  # D or S on a sequence, or a sequence the table does not name: de-identify inside
            for item in elem.value:
                _apply(item, session, kept)


# Sidecar and metadata dicts ----------------------------------------------------------------------------------------

# Keys (at any depth) that identify a patient, a visit, a place or an instance; dropped from anonymized dicts.
METADATA_KEYS_REMOVED = frozenset({
    "patient", "patient_name", "patient_id", "patient_birth_date", "patient_address", "study_date", "study_time",
    "series_date", "acquisition_date", "content_date", "accession_number", "study_id", "study_description",
    "series_description", "institution", "institution_name", "referring_physician", "operator", "station_name",
    "device_serial_number", "study_uid", "series_uid", "sop_instance_uid", "frame_of_reference_uid",
})
# File names are often patient names or accession numbers ("DOE_JOHN_1961.dcm"): kept as a key, value replaced.
PATH_KEYS = frozenset({"source", "path", "source_path", "file", "filename", "folder"})
_IDENTIFYING = ("name", "id", "birth_date")


def anonymize_metadata(record: dict) -> dict:
    """A copy of `record` without patient data; a patient name, ID or birth date left in free text is masked."""
    return _strip(record, _identifiers(record, set()))


def _identifiers(value, found: set[str]) -> set[str]:
    """Patient names (and their parts), IDs and birth dates anywhere in `value`: {"patient": {...}} as viewer.io
    writes it, or flat patient_name / patient_id / patient_birth_date keys."""
    if isinstance(value, dict):
        for key, item in value.items():
            texts = []
            if key == "patient" and isinstance(item, dict):
                texts = [item.get(k) for k in _IDENTIFYING]
            elif key in {f"patient_{k}" for k in _IDENTIFYING}:
                texts = [item]
            for text in (str(t) for t in texts if t):
                found.add(text)
                found.update(part for part in text.replace("^", " ").split() if len(part) > 1)
            _identifiers(item, found)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _identifiers(item, found)
    return found


def _strip(value, identifiers: set[str]):
    if isinstance(value, dict):
        return {key: "ANONYMIZED" if key in PATH_KEYS and isinstance(item, str) else _strip(item, identifiers)
                for key, item in value.items() if key not in METADATA_KEYS_REMOVED}
    if isinstance(value, (list, tuple)):
        return [_strip(item, identifiers) for item in value]
    if isinstance(value, str) and identifiers:
        # Longest first, so "Doe^John" is masked whole before "Doe" would split it; in any case, since codes quoted
        # from the header are upper-cased ("body part CHEST DOE" for a patient Doe^John).
        pattern = "|".join(re.escape(identifier) for identifier in sorted(identifiers, key=len, reverse=True))
        return re.sub(pattern, "***", value, flags=re.IGNORECASE)
    return value


def mask_patient(texts: list[str], metadata: dict) -> list[str]:
    """`texts` with the patient's name (and its parts), ID and birth date from `metadata` (viewer.io's) masked, as
    the anonymized sidecar masks its free text."""
    return _strip(list(texts), _identifiers({"patient": metadata.get("patient")}, set()))


def header_text(metadata: dict, anonymize: bool = False) -> str:
    """The patient/study line burned into exported images; anonymized, only modality, view and body part."""
    study = " ".join(str(metadata[k]) for k in ("modality", "view_position", "body_part") if metadata.get(k))
    if anonymize:
        return f"{ANONYMOUS_NAME} · {study}" if study else ANONYMOUS_NAME
    patient = metadata.get("patient") or {}
    name = str(patient.get("name") or "").replace("^", " ").strip()
    fields = [name, f"ID {patient['id']}" if patient.get("id") else "",
              " ".join(str(patient[k]) for k in ("sex", "age") if patient.get(k)),
              _date(metadata.get("study_date")), study, metadata.get("study_description") or ""]
    return " · ".join(field for field in fields if field)


def _date(value) -> str:
    text = str(value or "")
    return f"{text[:4]}-{text[4:6]}-{text[6:8]}" if len(text) == 8 and text.isdigit() else text
