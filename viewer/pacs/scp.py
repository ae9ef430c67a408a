"""What receives instances over DIMSE: the C-STORE handler that C-GET (on the same association) and C-MOVE (on an
association the PACS opens to us) share, and RadCAM's own Storage SCP for C-MOVE, listening only while a move runs.
Handlers run on pynetdicom's threads, so whatever `on_instance` raises is kept and raised again in the caller's."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pydicom.uid import (
    JPEG2000,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEGLSNearLossless,
    RLELossless,
)
from pynetdicom import AE, evt
from pynetdicom.presentation import AllStoragePresentationContexts

from viewer.errors import PacsError
from viewer.progress import Reporter

from .client import OnInstance, where
from .nodes import Node
from .tcp import HANDLERS as TCP_HANDLERS

UNCOMPRESSED = [ExplicitVRLittleEndian, ImplicitVRLittleEndian, DeflatedExplicitVRLittleEndian, ExplicitVRBigEndian]
# The compressed syntaxes X-ray archives hold; offered beside the uncompressed ones so that the PACS can send each
# instance as it stores it, not transcoded.
COMPRESSED = [JPEGLosslessSV1, JPEGBaseline8Bit, JPEGExtended12Bit, JPEG2000Lossless, JPEG2000, JPEGLSLossless,
              JPEGLSNearLossless, RLELossless]

STATUS_OK = 0x0000
STATUS_OUT_OF_RESOURCES = 0xA700  # what we answer when the instance could not be kept (disk full, cancelled)


class Receiver:
    """The C-STORE handler: each complete dataset (with its file meta) to `on_instance`; counts what arrived; after
    a failure or a cancel, refuses the rest instead of writing them."""

    def __init__(self, on_instance: OnInstance, reporter: Reporter) -> None:
        self.on_instance = on_instance
        self.reporter = reporter
        self.received: set[str] = set()
        self.error: BaseException | None = None
        self.lock = threading.Lock()
        self.heard_at = time.monotonic()  # when the PACS last sent anything, on any of the retrieve's associations
        self.busy = False  # keeping an instance: the PACS waits for us, which is no silence of its own

    def heard(self, _event: Any = None) -> None:
        self.heard_at = time.monotonic()

    def handle(self, event: Any) -> int:
        if self.error is not None or self.reporter.cancelled():
            return STATUS_OUT_OF_RESOURCES
        self.busy = True
        try:
            ds = event.dataset
            ds.file_meta = event.file_meta
            self.on_instance(ds)
        except BaseException as exc:  # noqa: BLE001 - kept, raised again in the caller's thread
            self.error = exc
            return STATUS_OUT_OF_RESOURCES
        finally:
            self.busy = False
            self.heard()
        with self.lock:
            self.received.add(str(ds.SOPInstanceUID))
        return STATUS_OK

    @contextmanager
    def watching(self, assoc: Any, timeout: float) -> Iterator[None]:
        """Abort `assoc` once the PACS has said nothing for `timeout` s. This, not pynetdicom's timers, is a
        retrieve's timeout: they count a C-MOVE's association, quiet while each instance travels on the other
        one, and an instance that takes longer than the timeout to arrive whole on a slow link, as silence."""
        stop = threading.Event()

        def watch() -> None:
            while not stop.wait(min(0.1, timeout / 4)):
                if not self.busy and time.monotonic() - self.heard_at > timeout:
                    # what pynetdicom's own DIMSE timeout does: its wait for the next message ends empty and it
                    # aborts the association (abort() alone would leave that wait, which has no timeout, for ever)
                    assoc.dimse.msg_queue.put((None, None))
                    return

        self.heard()
        thread = threading.Thread(target=watch, name="pacs-retrieve-watch", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()

    @property
    def count(self) -> int:
        with self.lock:
            return len(self.received)

    def raise_if_failed(self, where: str) -> None:
        """What `on_instance` raised; a disk that refused the file becomes a PacsError (a bug stays a bug)."""
        if isinstance(self.error, OSError):
            raise PacsError(f"{where}: cannot keep a retrieved instance ({self.error.strerror or self.error})")
        if self.error is not None:
            raise self.error


def storage_syntaxes() -> list[str]:
    return [*UNCOMPRESSED, *COMPRESSED]


@contextmanager
def storage_scp(node: Node, receiver: Receiver, bind: str = "") -> Iterator[None]:
    """Our Storage SCP on `node.move_port` as `node.our_ae_title`, accepting only the node's AE title as caller,
    for the length of one C-MOVE; stopped after, whatever happened."""
    ae = AE(ae_title=node.our_ae_title)
    ae.require_called_aet = True
    ae.require_calling_aet = [node.ae_title]
    ae.acse_timeout = node.timeout  # the rest of the time is kept by Receiver.watching, over both associations
    ae.dimse_timeout = ae.network_timeout = None
    for context in AllStoragePresentationContexts:
        if context.abstract_syntax:
            ae.add_supported_context(context.abstract_syntax, storage_syntaxes())
    try:
        server = ae.start_server((bind, node.move_port), block=False,
                                 evt_handlers=[(evt.EVT_C_STORE, receiver.handle), (evt.EVT_PDU_RECV, receiver.heard),
                                               *TCP_HANDLERS])
    except OSError as exc:
        raise PacsError(f"{where(node)}: cannot receive C-MOVE on port {node.move_port} "
                        f"({exc.strerror or exc}); choose another move port or retrieve by C-GET") from None
    try:
        yield
    finally:
        if server is not None:
            for assoc in server.active_associations:  # a silent PACS's: shutdown() would wait for it for ever
                assoc.abort()
            server.shutdown()
