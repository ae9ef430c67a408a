"""De-identification of exported data: DICOM (PS3.15 Annex E, Basic Application Level Confidentiality Profile),
sidecar dicts, and the header line burned into exported images.

One `AnonymizationSession` maps each source UID and patient ID to the same replacement for as long as it lives,
so every file of one export (and of later exports in the same run) stays linked without the originals.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Collection
from copy import deepcopy

from pydicom import Dataset
from pydicom.datadict import tag_for_keyword
from pydicom.sr.codedict import codes
from pydicom.uid import UID_dictionary, generate_uid

ANONYMOUS_NAME = "ANONYMOUS"
DEIDENTIFICATION_METHOD = "RadCAM: PS3.15 Annex E Basic Profile"  # LO: at most 64 characters

# Action per attribute, from PS3.15 Table E.1-1 (Basic Profile column). Where the table offers a choice
# (X/Z, X/D, Z/D, X/Z/D) the first one that keeps the IOD valid is used: Z for Type 2 attributes, else X.
#   X remove · Z empty value · D dummy value (see AnonymizationSession.dummy) · U new UID, consistent per session
RULES: dict[str, str] = {
    # patient
    "PatientName": "D", "PatientID": "D", "PatientBirthDate": "Z", "PatientSex": "Z", "PatientBirthTime": "X",
    "PatientAge": "X", "PatientSize": "X", "PatientWeight": "X", "PatientAddress": "X", "PatientBirthName": "X",
    "PatientMotherBirthName": "X", "PatientTelephoneNumbers": "X", "PatientComments": "X", "PatientState": "X",
    "PatientReligiousPreference": "X", "PatientSexNeutered": "X", "PatientInsurancePlanCodeSequence": "X",
    "PatientPrimaryLanguageCodeSequence": "X", "PatientTransportArrangements": "X", "OtherPatientIDs": "X",
    "OtherPatientIDsSequence": "X", "OtherPatientNames": "X", "IssuerOfPatientID": "X", "EthnicGroup": "X",
    "Occupation": "X", "MilitaryRank": "X", "BranchOfService": "X", "CountryOfResidence": "X",
    "RegionOfResidence": "X", "MedicalRecordLocator": "X", "MedicalAlerts": "X", "Allergies": "X",
    "SmokingStatus": "X", "PregnancyStatus": "X", "AdditionalPatientHistory": "X", "ReferencedPatientSequence": "X",
    "ResponsiblePerson": "X", "ResponsibleOrganization": "X", "CurrentPatientLocation": "X",
    "AdmissionID": "X", "AdmittingDiagnosesDescription": "X", "AdmittingDate": "X", "AdmittingTime": "X",
    # study, visit, request
    "StudyInstanceUID": "U", "StudyDate": "Z", "StudyTime": "Z", "StudyID": "Z", "AccessionNumber": "Z",
    "StudyDescription": "X", "ReferringPhysicianName": "Z", "ReferringPhysicianAddress": "X",
    "ReferringPhysicianTelephoneNumbers": "X", "ReferringPhysicianIdentificationSequence": "X",
    "PhysiciansOfRecord": "X", "PhysiciansOfRecordIdentificationSequence": "X", "NameOfPhysiciansReadingStudy": "X",
    "PhysiciansReadingStudyIdentificationSequence": "X", "RequestingPhysician": "X", "RequestingService": "X",
    "RequestAttributesSequence": "X", "ReferencedStudySequence": "X", "ReasonForStudy": "X",
    "RequestedProcedureDescription": "X", "RequestedProcedureID": "X", "RequestedContrastAgent": "X",
    "ScheduledProcedureStepDescription": "X", "ScheduledProcedureStepID": "X", "IssuerOfAdmissionID": "X",
    "ReferencedPerformedProcedureStepSequence": "X", "PerformedProcedureStepID": "X",
    "PerformedProcedureStepDescription": "X", "PerformedProcedureStepStartDate": "X",
    "PerformedProcedureStepStartTime": "X", "PerformedProcedureStepEndDate": "X", "PerformedProcedureStepEndTime": "X",
    "PerformedLocation": "X", "ProtocolName": "X",
    # series, equipment, staff
    "SeriesInstanceUID": "U", "SeriesDate": "X", "SeriesTime": "X", "SeriesDescription": "X",
    "FrameOfReferenceUID": "U", "SynchronizationFrameOfReferenceUID": "U", "InstitutionName": "X",
    "InstitutionAddress": "X", "InstitutionalDepartmentName": "X", "InstitutionCodeSequence": "X",
    "StationName": "X", "DeviceSerialNumber": "X", "DeviceUID": "U", "DetectorID": "X", "GantryID": "X",
    "PlateID": "X", "CassetteID": "X", "DateOfLastCalibration": "X", "TimeOfLastCalibration": "X",
    "OperatorsName": "X", "OperatorIdentificationSequence": "X", "PerformingPhysicianName": "X",
    "PerformingPhysicianIdentificationSequence": "X",
    # instance, image
    "SOPInstanceUID": "U", "ReferencedSOPInstanceUID": "U", "InstanceCreatorUID": "U", "StorageMediaFileSetUID": "U",
    "IrradiationEventUID": "U", "ConcatenationUID": "U", "InstanceCreationDate": "X", "InstanceCreationTime": "X",
    "ContentDate": "Z", "ContentTime": "Z", "AcquisitionDate": "X", "AcquisitionTime": "X",
    "AcquisitionDateTime": "X", "AcquisitionComments": "X", "AcquisitionDeviceProcessingDescription": "X",
    "DateOfSecondaryCapture": "X", "TimeOfSecondaryCapture": "X", "TimezoneOffsetFromUTC": "X",
    "ContentCreatorName": "Z", "ImageComments": "X", "DerivationDescription": "X",
    "OriginalAttributesSequence": "X", "ModifiedAttributesSequence": "X",
}
_RULES_BY_TAG = {tag_for_keyword(keyword): action for keyword, action in RULES.items()}


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

    def dummy(self, keyword: str, value) -> str:
        return self.pseudonym(str(value)) if keyword == "PatientID" else ANONYMOUS_NAME

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
    """A de-identified copy of `ds` (`ds` itself is left alone); attributes named in `keep` are kept as they are."""
    session = session or DEFAULT_SESSION
    out = deepcopy(ds)
    out.remove_private_tags()
    kept = {tag_for_keyword(keyword) for keyword in keep}
    _apply(out, session, kept)
    meta = getattr(out, "file_meta", None)
    if meta is not None and "SOPInstanceUID" in out:
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
        action = _RULES_BY_TAG.get(elem.tag)
        values = list(elem.value) if elem.VM > 1 else [elem.value]
        if action is None and elem.VR == "UI" and elem.value and not all(str(v) in UID_dictionary for v in values):
            action = "U"  # Annex E replaces every instance UID, named in the table or not; registered UIDs stay
        if action is None and elem.tag.group & 0xFF00 == 0x6000:
            action = "X"  # overlay planes and their comments can hold burned-in names
        if action == "X":
            del ds[elem.tag]
        elif action == "Z":
            elem.value = None
        elif action == "D":
            elem.value = session.dummy(elem.keyword, elem.value)
        elif action == "U" and elem.value:
            new = [session.uid(str(v)) for v in values]
            elem.value = new if elem.VM > 1 else new[0]
        elif elem.VR == "SQ":
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
    if isinstance(value, str):
        # Longest first, so "Doe^John" is masked whole before "Doe" would split it.
        for identifier in sorted(identifiers, key=len, reverse=True):
            value = value.replace(identifier, "***")
        return value
    return value


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
