"""A DIMSE PACS through pynetdicom: C-ECHO, C-FIND (Study Root: study, series, image level), C-GET (the instances
come back on our own association: no inbound port), C-MOVE (to our Storage SCP, viewer.pacs.scp) and C-STORE.
One association per operation: nothing is held open between a search and a retrieve. Every failure is one PacsError
line naming the node and saying which failure it is (rejected, and why; refused connection; timeout; abort)."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any, Literal

from pydicom import Dataset, dcmread, uid as uids
from pydicom.errors import InvalidDicomError
from pynetdicom import AE, _config, build_role, evt
from pynetdicom.association import Association
from pynetdicom.sop_class import (  # type: ignore[attr-defined]  # made at import time
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelMove,
    Verification,
)

from viewer.errors import PacsError
from viewer.progress import QUIET, Cancelled, Reporter

from .client import (
    InstanceRef,
    OnInstance,
    SendResult,
    SeriesMatch,
    StudyMatch,
    StudyQuery,
    integer,
    series_match,
    study_match,
    text,
    where,
)
from .nodes import Node
from .scp import COMPRESSED, UNCOMPRESSED, Receiver, storage_scp
from .send import PacsRefusal
from .store_status import one_line, store_result
from .tcp import HANDLERS as TCP_HANDLERS

# Its DEBUG would dump every query's and answer's identifier (patient names and IDs); the logger itself is held at
# WARNING by viewer.pacs, this keeps the identifiers out for someone who turns its DEBUG on to see an association.
_config.LOG_REQUEST_IDENTIFIERS = False
_config.LOG_RESPONSE_IDENTIFIERS = False

MAX_CONTEXTS = 128
# What C-GET proposes for instances listed without their SOP class: what a chest X-ray study holds, RadCAM's outputs.
XRAY_CLASSES = [uids.ComputedRadiographyImageStorage, uids.DigitalXRayImageStorageForPresentation,
                uids.DigitalXRayImageStorageForProcessing, uids.DigitalMammographyXRayImageStorageForPresentation,
                uids.SecondaryCaptureImageStorage, uids.MultiFrameGrayscaleWordSecondaryCaptureImageStorage,
                uids.GrayscaleSoftcopyPresentationStateStorage, uids.ParametricMapStorage]
PENDING = (0xFF00, 0xFF01)
REJECTIONS = {
    (1, 3): "our AE title {ours!r} is not known to the PACS (add RadCAM there as a modality)",
    (1, 7): "called AE title {called!r} not recognised (check the node's AE title)",
    (1, 2): "application context not supported",
    (2, 2): "protocol version not supported",
    (3, 1): "temporary congestion (try again later)",
    (3, 2): "local limit exceeded (too many associations; try again later)",
}


class DimseClient:
    """The PacsClient for a DIMSE node; `retrieve` ("get" or "move") overrides the node's choice."""

    def __init__(self, node: Node, *, retrieve: str | None = None) -> None:
        if node.kind != "dimse":
            raise PacsError(f"{where(node)}: not a DIMSE node")
        way = retrieve or node.retrieve
        if way not in ("get", "move"):
            raise PacsError(f"{where(node)}: a DIMSE node retrieves by get or move, not {way}")
        self.node = node
        self.retrieve: Literal["get", "move"] = way  # type: ignore[assignment]
        self.where = where(node)

    # -- associations ------------------------------------------------------------------------------------------
    def _ae(self, retrieving: bool = False) -> AE:
        """`retrieving`: no DIMSE or idle timeout of pynetdicom's (Receiver.watching keeps the time instead)."""
        ae = AE(ae_title=self.node.our_ae_title)
        ae.connection_timeout = self.node.timeout
        for timeout in ("acse_timeout", "dimse_timeout", "network_timeout"):
            setattr(ae, timeout, None if retrieving and timeout != "acse_timeout" else self.node.timeout)
        return ae

    @contextmanager
    def _association(self, ae: AE, ext_neg: list[Any] | None = None,
                     handlers: list[Any] | None = None) -> Iterator[Association]:
        events: list[str] = []
        notes = [(evt.EVT_CONN_OPEN, lambda event: events.append("open"))]
        try:
            assoc = ae.associate(self.node.host, self.node.port, ae_title=self.node.ae_title, ext_neg=ext_neg,
                                 evt_handlers=[*notes, *TCP_HANDLERS, *(handlers or [])])
        except socket.gaierror:
            raise PacsError(f"{self.where}: unknown host {self.node.host!r}") from None
        except (OSError, ValueError) as exc:
            raise PacsError(f"{self.where}: cannot connect ({exc})") from None
        if not assoc.is_established:
            # A permanent rejection (an AE title not known) is a refusal: send() does not retry it.
            permanent = assoc.is_rejected and getattr(assoc.acceptor.primitive, "result", None) == 1
            raise (PacsRefusal if permanent else PacsError)(f"{self.where}: {self._why_not(assoc, 'open' in events)}")
        try:
            yield assoc
        finally:
            if assoc.is_established:
                assoc.release()

    def _why_not(self, assoc: Association, connected: bool) -> str:
        answer = assoc.acceptor.primitive
        if assoc.is_rejected and answer is not None:
            key = (int(answer.result_source or 0), int(answer.diagnostic or 0))
            reason = REJECTIONS.get(key, answer.reason_str.lower())
            return "association rejected: " + reason.format(ours=self.node.our_ae_title, called=self.node.ae_title)
        if not connected:
            return f"connection refused or no answer within {self.node.timeout:g} s (is the PACS running there?)"
        if answer is None:
            return f"no answer to the association request within {self.node.timeout:g} s (timeout)"
        if not assoc.accepted_contexts:
            return "association aborted: the PACS accepted none of the proposed services"
        return "association aborted by the PACS"

    def _lost(self, what: str) -> PacsError:
        # A killed peer shows as an abort or as a closed socket, by a race inside pynetdicom: one message for both.
        return PacsError(f"{self.where}: {what}: connection lost (aborted, or no answer within "
                         f"{self.node.timeout:g} s)")

    # -- echo and find -----------------------------------------------------------------------------------------
    def echo(self) -> None:
        ae = self._ae()
        ae.add_requested_context(Verification)
        with self._association(ae) as assoc:
            status = assoc.send_c_echo()
            if "Status" not in status:
                raise self._lost("C-ECHO")
            if status.Status != 0:
                raise PacsError(f"{self.where}: C-ECHO failed with status 0x{status.Status:04X}")

    def _find(self, level: str, keys: dict[str, Any]) -> list[Dataset]:
        query = Dataset()
        query.QueryRetrieveLevel = level
        for keyword, value in keys.items():
            setattr(query, keyword, value)
        ae = self._ae()
        ae.add_requested_context(StudyRootQueryRetrieveInformationModelFind)
        found: list[Dataset] = []
        with self._association(ae) as assoc:
            status = None
            for status, identifier in assoc.send_c_find(query, StudyRootQueryRetrieveInformationModelFind):
                if "Status" not in status:
                    raise self._lost(f"C-FIND ({level.lower()} level)")
                if status.Status in PENDING and identifier is not None:
                    found.append(identifier)
            if status is not None and "Status" in status and status.Status not in (0, *PENDING):
                raise PacsError(f"{self.where}: C-FIND ({level.lower()} level) failed with status "
                                f"0x{status.Status:04X}{_why(status, self.node)}")
        return found

    def find_studies(self, query: StudyQuery) -> list[StudyMatch]:
        found = self._find("STUDY", {
            "StudyInstanceUID": "", "PatientName": query.patient_name, "PatientID": query.patient_id,
            "AccessionNumber": query.accession, "StudyDate": query.date_range(), "StudyDescription": "",
            "ModalitiesInStudy": query.modality, "NumberOfStudyRelatedSeries": None,
            "NumberOfStudyRelatedInstances": None})
        matches = [study_match(ds) for ds in found]
        return [match for match in matches if match.study_uid]

    def find_series(self, study_uid: str) -> list[SeriesMatch]:
        found = self._find("SERIES", {
            "StudyInstanceUID": study_uid, "SeriesInstanceUID": "", "Modality": "", "SeriesNumber": None,
            "SeriesDescription": "", "NumberOfSeriesRelatedInstances": None})
        return [match for match in (series_match(study_uid, ds) for ds in found) if match.series_uid]

    def list_instances(self, study_uid: str, series_uid: str | None = None) -> list[InstanceRef]:
        """Image level, series by series (the hierarchical query every PACS answers)."""
        series = [series_uid] if series_uid else [match.series_uid for match in self.find_series(study_uid)]
        refs: dict[str, InstanceRef] = {}
        for uid in series:
            for ds in self._find("IMAGE", {"StudyInstanceUID": study_uid, "SeriesInstanceUID": uid,
                                           "SOPInstanceUID": "", "SOPClassUID": "", "InstanceNumber": None}):
                sop = text(ds, "SOPInstanceUID")
                if sop:
                    refs[sop] = InstanceRef(study_uid, uid, sop, text(ds, "SOPClassUID"))
        return list(refs.values())

    # -- retrieve ----------------------------------------------------------------------------------------------
    def fetch(self, wanted: Sequence[InstanceRef], on_instance: OnInstance, reporter: Reporter = QUIET) -> None:
        """C-GET or C-MOVE, one request per series naming its wanted instances (a UID list); a cancel sends
        C-CANCEL and raises Cancelled; anything missing at the end is a PacsError."""
        if not wanted:
            return
        receiver = Receiver(on_instance, reporter)
        if self.retrieve == "get":
            self._get(wanted, receiver, reporter)
        else:
            with storage_scp(self.node, receiver):
                ae = self._ae(retrieving=True)
                ae.add_requested_context(StudyRootQueryRetrieveInformationModelMove)
                with self._association(ae, handlers=[(evt.EVT_PDU_RECV, receiver.heard)]) as assoc, \
                        receiver.watching(assoc, self.node.timeout):
                    self._requests(assoc, wanted, receiver, reporter, lambda ds, mid: assoc.send_c_move(
                        ds, self.node.our_ae_title, StudyRootQueryRetrieveInformationModelMove, msg_id=mid), "C-MOVE")
        missing = len({ref.sop_instance_uid for ref in wanted} - receiver.received)
        if missing:
            raise PacsError(f"{self.where}: {missing} of {len(wanted)} instances did not arrive")

    def _get(self, wanted: Sequence[InstanceRef], receiver: Receiver, reporter: Reporter) -> None:
        ae = self._ae(retrieving=True)
        ae.add_requested_context(StudyRootQueryRetrieveInformationModelGet)
        classes = sorted({ref.sop_class_uid for ref in wanted if ref.sop_class_uid})
        if any(not ref.sop_class_uid for ref in wanted):  # an optional key at image level that a PACS may omit
            classes = sorted({*classes, *XRAY_CLASSES})
        # Per SOP class: the uncompressed syntaxes, then each compressed one alone, so that the PACS can send
        # every instance as it holds it; as many as fit in 127 contexts.
        groups = [UNCOMPRESSED, *[[syntax] for syntax in COMPRESSED]]
        per_class = max(1, min(len(groups), (MAX_CONTEXTS - 1) // len(classes)))
        if len(classes) > MAX_CONTEXTS - 1:
            raise PacsError(f"{self.where}: {len(classes)} SOP classes in one retrieve; C-GET allows 127")
        for sop_class in classes:
            for syntaxes in groups[:per_class]:
                ae.add_requested_context(sop_class, syntaxes)
        roles = [build_role(sop_class, scp_role=True) for sop_class in classes]
        handlers = [(evt.EVT_C_STORE, receiver.handle), (evt.EVT_PDU_RECV, receiver.heard)]
        with self._association(ae, ext_neg=roles, handlers=handlers) as assoc, \
                receiver.watching(assoc, self.node.timeout):
            self._requests(assoc, wanted, receiver, reporter, lambda ds, mid: assoc.send_c_get(
                ds, StudyRootQueryRetrieveInformationModelGet, msg_id=mid), "C-GET")

    def _requests(self, assoc: Association, wanted: Sequence[InstanceRef], receiver: Receiver, reporter: Reporter,
                  send: Callable[[Dataset, int], Iterator[tuple[Dataset, Dataset | None]]], what: str) -> None:
        series: dict[tuple[str, str], list[str]] = {}
        for ref in wanted:
            series.setdefault((ref.study_uid, ref.series_uid), []).append(ref.sop_instance_uid)
        for message_id, ((study_uid, series_uid), sops) in enumerate(series.items(), start=1):
            if reporter.cancelled():
                raise Cancelled()
            request = Dataset()
            request.QueryRetrieveLevel = "IMAGE"
            request.StudyInstanceUID = study_uid
            request.SeriesInstanceUID = series_uid
            request.SOPInstanceUID = sops if len(sops) > 1 else sops[0]
            status = Dataset()
            for status, _ in self._answers(partial(send, request, message_id), what):
                if "Status" not in status:
                    receiver.raise_if_failed(self.where)
                    raise self._lost(f"{what} interrupted")
                reporter.progress(receiver.count / len(wanted))
                if status.Status in PENDING and (reporter.cancelled() or receiver.error is not None):
                    self._cancel(assoc, message_id)
                    receiver.raise_if_failed(self.where)
                    raise Cancelled()
            receiver.raise_if_failed(self.where)
            if reporter.cancelled():  # the PACS finished before it heard; what arrived after was refused
                raise Cancelled()
            if status.Status not in (0x0000, 0xB000):
                why = _why(status, self.node)
                raise PacsError(f"{self.where}: {what} failed with status 0x{status.Status:04X}{why} after "
                                f"{receiver.count} of {len(wanted)} instances{_failed_count(status)}")

    def _answers(self, request: Callable[[], Iterator[tuple[Dataset, Dataset | None]]], what: str
                 ) -> Iterator[tuple[Dataset, Dataset | None]]:
        """pynetdicom refuses a request on an association the PACS aborted meanwhile with a RuntimeError."""
        try:
            yield from request()
        except RuntimeError:
            raise self._lost(f"{what} interrupted") from None

    def _cancel(self, assoc: Association, message_id: int) -> None:
        """C-CANCEL, then the association is aborted: the PACS may go on sending, and nothing more is wanted."""
        try:
            context = next(cx for cx in assoc.accepted_contexts if cx.abstract_syntax in (
                StudyRootQueryRetrieveInformationModelGet, StudyRootQueryRetrieveInformationModelMove))
            assoc.send_c_cancel(message_id, context.context_id)
        except (StopIteration, RuntimeError):
            pass
        assoc.abort()

    # -- send --------------------------------------------------------------------------------------------------
    def store(self, paths: Sequence[Path], reporter: Reporter = QUIET) -> list[SendResult]:
        """C-STORE each file once, each in the transfer syntax it has (or uncompressed); a refusal is that
        instance's result, a lost association a PacsError."""
        results: dict[int, SendResult] = {}
        readable: list[tuple[int, Path, Dataset]] = []
        for index, path in enumerate(paths):
            try:
                readable.append((index, Path(path), dcmread(path)))
            except (OSError, InvalidDicomError, ValueError) as exc:
                results[index] = SendResult(Path(path), "", False, None, f"not a DICOM file ({type(exc).__name__})")
        ae = self._ae()
        for sop_class, syntax in self._contexts(ds for _, _, ds in readable):
            ae.add_requested_context(sop_class, syntax)
        if readable:
            with self._association(ae) as assoc:
                for done, (index, path, ds) in enumerate(readable):
                    if reporter.cancelled():
                        raise Cancelled()
                    results[index] = self._store_one(assoc, path, ds)
                    reporter.progress((done + 1) / len(readable))
        return [results[index] for index in range(len(paths))]

    @staticmethod
    def _contexts(datasets: Iterable[Dataset]) -> list[tuple[str, list[str]]]:
        """Per SOP class: the uncompressed syntaxes (one context: any of them will do for an uncompressed file),
        and each compressed syntax its files have, alone (an acceptor picks one syntax per context)."""
        contexts: dict[tuple[str, str], list[str]] = {}
        for ds in datasets:
            if "SOPClassUID" not in ds:
                continue
            sop_class = str(ds.SOPClassUID)
            contexts.setdefault((sop_class, ""), [str(syntax) for syntax in UNCOMPRESSED[:2]])
            syntax = ds.get("file_meta", Dataset()).get("TransferSyntaxUID")
            if syntax is not None and syntax.is_compressed:
                contexts.setdefault((sop_class, str(syntax)), [str(syntax)])
        return [(sop_class, syntaxes) for (sop_class, _), syntaxes in contexts.items()][:MAX_CONTEXTS]

    def _store_one(self, assoc: Association, path: Path, ds: Dataset) -> SendResult:
        sop = text(ds, "SOPInstanceUID")
        if "SOPClassUID" not in ds or not sop:
            return SendResult(path, sop, False, None, "refused: not a DICOM instance (no SOP class or instance UID)")
        try:
            status = assoc.send_c_store(ds)
        except ValueError:  # no accepted presentation context for its SOP class / transfer syntax
            return SendResult(path, sop, False, 0x0122, f"refused: the PACS does not accept SOP class {ds.SOPClassUID}")
        except RuntimeError:  # the PACS aborted the association after an earlier instance
            raise self._lost("C-STORE") from None
        except (OSError, AttributeError) as exc:
            raise PacsError(f"{self.where}: C-STORE failed ({type(exc).__name__})") from None
        if "Status" not in status:
            raise self._lost("C-STORE")
        return store_result(path, sop, int(status.Status), text(status, "ErrorComment"))

    def close(self) -> None:
        """Nothing to release: each operation opens and closes its own association."""

    def __enter__(self) -> DimseClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# C-FIND, C-GET and C-MOVE failures worth words (PS3.4 C.4); the PACS's Error Comment follows when it gives one.
FAILURES = {0xA700: "out of resources", 0xA701: "out of resources: cannot count the matches",
            0xA702: "out of resources: cannot send the instances",
            0xA801: "the PACS does not know {ours!r} as a C-MOVE destination (add RadCAM there with its host and "
                    "move port {port})",
            0xA900: "the request does not match the query model", 0xC000: "the PACS cannot process the request"}


def _why(status: Dataset, node: Node) -> str:
    """': meaning (the PACS's comment)' for a failure status, as one line."""
    code = int(status.Status)
    meaning = FAILURES.get(code, FAILURES[0xC000] if code & 0xF000 == 0xC000 else "")
    comment = one_line(text(status, "ErrorComment"))
    said = ": " + meaning.format(ours=node.our_ae_title, port=node.move_port) if meaning else ""
    return f"{said} ({comment})" if comment else said


def _failed_count(status: Dataset) -> str:
    failed = integer(status, "NumberOfFailedSuboperations")
    return f" ({failed} failed at the PACS)" if failed else ""

