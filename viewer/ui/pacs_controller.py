"""PACS in the viewer: the View → PACS dock (search, retrieve into the cache, open into the worklist), Edit →
Preferences… (the nodes), File → Send to PACS… (the explanation on screen as DICOM objects, to a chosen node).

Network work runs on two threads of its own through viewer.ui.jobs (queries and echoes on one, retrieves and sends
on the other), never on the UI thread and never behind a decode or the model; viewer.app.pacs_jobs makes the jobs.
A retrieve that failed or was cancelled leaves its study partial in the cache and is shown so; the next Retrieve
fetches only what is missing. Passwords come from viewer.pacs.credentials (keyring, else asked once per session).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QDockWidget, QInputDialog, QLineEdit, QMainWindow, QMenu

from viewer.app import ViewerState
from viewer.app.pacs_jobs import (
    Retrieved,
    Sent,
    cache_job,
    echo_job,
    find_job,
    node_secret,
    retrieve_job,
    send_job,
    study_states,
)
from viewer.errors import PacsError, RadcamError
from viewer.pacs.client import StudyMatch, StudyQuery
from viewer.pacs.nodes import Node, NodeStore

from .jobs import QtJobs, ThreadJobs
from .pacs_panel import PacsPanel
from .pacs_prefs import CacheBox, PacsNodesPage, PreferencesDialog
from .worker import JobThread

if TYPE_CHECKING:
    from viewer.pacs.cache import PacsCache

Add = Callable[..., QAction]  # Menus._add


class Secrets:
    """What the preferences do with a node's password (viewer.pacs.credentials): never a file, never a log."""

    @staticmethod
    def remember(node: Node, secret: str) -> bool:
        """The keyring keeps it (True), else this session's memory (False)."""
        from viewer.pacs.credentials import store_secret

        kept: bool = store_secret(node, secret)
        return kept

    @staticmethod
    def forget(node: Node) -> None:
        from viewer.pacs.credentials import forget_secret

        forget_secret(node)

    @classmethod
    def move(cls, old: Node, new: Node) -> None:
        """A renamed node (or another user name) keeps its password under its new name; none stays behind."""
        from viewer.pacs.credentials import secret_for

        secret = secret_for(old, None)
        cls.forget(old)
        if secret and new.needs_secret:
            cls.remember(new, secret)


class PacsController:
    def __init__(self, window: QMainWindow, state: ViewerState, jobs: QtJobs, open_paths: Callable[..., int],
                 report: Callable[[str], None], headless: Callable[[], bool]):
        self.window, self.state, self.jobs, self.open_paths = window, state, jobs, open_paths
        self.report, self.headless = report, headless
        self.query_thread = JobThread("pacs-query", window)  # searches and echoes: never behind a transfer
        self.transfer_thread = JobThread("pacs-transfer", window)
        self.queries = ThreadJobs(self.query_thread, jobs)
        self.transfers = ThreadJobs(self.transfer_thread, jobs)
        self._cache: PacsCache | None = None  # made when first needed (tests set their own)
        self._store: NodeStore | None = None
        self.transfer: int | None = None  # the retrieve or send whose progress the panel shows
        self.last_retrieved: Retrieved | None = None
        self.last_sent: Sent | None = None
        self.prefs: PreferencesDialog | None = None
        self.panel = PacsPanel()
        self.dock = QDockWidget("PACS", window)
        self.dock.setObjectName("pacs_dock")
        self.dock.setWidget(self.panel)
        window.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.dock)
        self.dock.hide()
        self.panel.searchRequested.connect(self.search)
        self.panel.retrieveRequested.connect(self.retrieve)
        self.panel.cancelRequested.connect(self.cancel)
        self.panel.preferencesRequested.connect(self.preferences)
        self.transfer_thread.progressed.connect(self._progressed)
        state.connect("anonymous", self.panel.set_anonymous)
        self.dock_action: QAction | None = None

    # -- the dock (Menus calls fill_view_menu with its _add) ----------------------------------------------------

    def fill_view_menu(self, view: QMenu, add: Add) -> None:
        self.dock_action = add(view, "PACS &Query and Retrieve", self.show_dock, "Ctrl+Shift+K", checkable=True,
                               tip="Search a PACS, retrieve studies into the worklist")
        self.dock.visibilityChanged.connect(self._dock_visible)

    def show_dock(self, shown: bool = True) -> None:
        self.dock.setVisible(shown)
        if shown:
            self.refresh_nodes()
            self.dock.raise_()

    def _dock_visible(self, visible: bool) -> None:
        if self.dock_action is not None:
            self.dock_action.setChecked(self.dock.isVisible() or visible)

    # -- nodes -------------------------------------------------------------------------------------------------

    @property
    def store(self) -> NodeStore:
        if self._store is None:
            self._store = NodeStore()
        return self._store

    def refresh_nodes(self) -> bool:
        """Re-read the nodes file (the CLI may have changed it); False after saying why it cannot be read."""
        try:
            self._store = NodeStore()
        except PacsError as exc:
            self.report(str(exc))
            return False
        self.panel.set_nodes(list(self._store.nodes))
        return True

    def node(self, name: str) -> Node | None:
        """The configured node called `name` (nothing goes to an unconfigured one), or None after saying why."""
        try:
            return self.store.get(name)
        except PacsError as exc:
            self.report(str(exc))
            return None

    def secret(self, node: Node) -> tuple[bool, str | None]:
        """(True, secret) when the node can be used now; (False, None) after saying why not."""
        try:
            return True, node_secret(node, self._ask_secret)
        except RadcamError as exc:
            self.report(" ".join(str(exc).split()))
            return False, None

    def _ask_secret(self, node: Node) -> str | None:
        """Asked once per session when no keyring holds it; never when headless (nobody is there)."""
        if self.headless():
            return None
        what = "token" if node.auth == "bearer" else f"password for {node.username}"
        text, ok = QInputDialog.getText(self.window, "PACS password", f"The {what} at {node.name} "
                                        f"({node.address()}):", QLineEdit.EchoMode.Password)
        return text if ok and text else None

    @property
    def cache(self) -> PacsCache:
        if self._cache is None:
            from viewer.pacs.cache import MB, PacsCache

            self._cache = PacsCache(limit_bytes=self.store.cache_limit_mb * MB)
        return self._cache

    @cache.setter
    def cache(self, value: PacsCache) -> None:
        self._cache = value

    # -- preferences -------------------------------------------------------------------------------------------

    def preferences(self) -> PreferencesDialog | None:
        """Edit → Preferences…: shown without blocking (a Test runs while it is open); the panel follows changes."""
        try:
            store = NodeStore()
        except PacsError as exc:
            self.report(str(exc))
            return None
        self._store = store
        page = PacsNodesPage(store, self.test_node, Secrets())
        page.changed.connect(lambda: self.panel.set_nodes(list(store.nodes)))
        if self.prefs is not None:
            self.prefs.close()
        self.prefs = PreferencesDialog(page, CacheBox(store, self.ask_cache, self._set_cache_limit), self.window)
        self.prefs.show()
        return self.prefs

    def ask_cache(self, clear: bool, show: Callable[[str], None]) -> None:
        try:
            cache = self.cache
        except RadcamError as exc:
            show(" ".join(str(exc).split()))
            return
        def done(text: str) -> None:
            show(text)
            self.panel.set_states(self._states([m.study_uid for m in self.panel.matches]))  # after a Clear
        self.queries.submit(cache_job(cache, clear), done, show, kind="pacs-cache")

    def _set_cache_limit(self, megabytes: int) -> None:
        from viewer.pacs.cache import MB

        if self._cache is not None:
            self._cache.limit_bytes = megabytes * MB

    def test_node(self, node: Node, show: Callable[[bool, str], None]) -> None:
        usable, secret = self.secret(node)
        if not usable:
            show(False, f"{node.name}: no password given")
            return
        self.queries.submit(echo_job(node, secret),
                            lambda seconds: show(True, f"{node.name} answered in {seconds * 1000:.0f} ms"),
                            lambda message: show(False, message), kind="pacs-echo", replace=True)

    # -- search and retrieve -----------------------------------------------------------------------------------

    def search(self, name: str, query: StudyQuery) -> int | None:
        node = self.node(name)
        if node is None:
            return None
        usable, secret = self.secret(node)
        if not usable:
            return None
        self.panel.show_status(f"Searching {node.name}…")
        return self.queries.submit(find_job(node, secret, query), self._found, self._failed, kind="pacs-find",
                                   replace=True)

    def _found(self, matches: list[StudyMatch]) -> None:
        self.panel.set_matches(matches, self._states([m.study_uid for m in matches]))
        self.panel.show_status(f"{len(matches)} stud{'y' if len(matches) == 1 else 'ies'} found")

    def _failed(self, message: str) -> None:
        self.panel.show_status(message)
        self.report(message)

    def _states(self, uids: Sequence[str]) -> dict[str, str]:
        try:
            return study_states(self.cache, uids)
        except RadcamError:
            return {}

    def _transfer_running(self) -> bool:
        if self.transfer is not None:
            self.report("A PACS retrieve or send is running: wait for it or cancel it first")
        return self.transfer is not None

    def retrieve(self, name: str, study_uids: Sequence[str]) -> int | None:
        node = self.node(name)
        if node is None or not study_uids or self._transfer_running():
            return None
        usable, secret = self.secret(node)
        if not usable:
            return None
        try:
            cache = self.cache
        except RadcamError as exc:
            self.report(str(exc))
            return None
        self.panel.set_busy(True)
        self.panel.show_status(f"Retrieving {len(study_uids)} stud{'y' if len(study_uids) == 1 else 'ies'} "
                               f"from {node.name}…")
        self.transfer = self.transfers.submit(retrieve_job(node, secret, study_uids, cache, self._open_studies(cache)),
                                              self._retrieved,
                                                self._retrieve_failed, kind="pacs-retrieve",
                                                on_cancel=self._retrieve_cancelled)
        return self.transfer

    def _open_studies(self, cache: PacsCache) -> list[str]:
        """The cached studies the worklist holds (a retrieve's eviction must not take their files from under it):
        a cached instance is at ROOT/<study UID>/<series UID>/<SOP UID>.dcm."""
        review = getattr(self.window, "review_state", None)  # the main window's worklist (none in a bare window)
        session = review.session if review is not None else None
        root = cache.root.resolve()
        paths = [Path(entry.path).resolve() for entry in session.entries] if session is not None else []
        return sorted({path.relative_to(root).parts[0] for path in paths if path.is_relative_to(root)})

    def cancel(self) -> None:
        if self.transfer is not None:
            self.transfer_thread.cancel(self.transfer)

    def _progressed(self, job_id: int, fraction: float) -> None:
        if job_id == self.transfer:
            self.panel.set_progress(fraction)

    def _ended(self) -> None:
        self.transfer = None
        self.panel.set_busy(False)
        self.panel.set_states(self._states([m.study_uid for m in self.panel.matches]))

    def _retrieved(self, retrieved: Retrieved) -> None:
        self._ended()
        self.last_retrieved = retrieved
        self.panel.show_status(retrieved.summary())
        if retrieved.folders:
            self.open_paths(retrieved.folders, True)  # → the browser and the worklist, like any opened folder

    def _retrieve_failed(self, message: str) -> None:
        self._ended()
        self._failed(message)

    def _retrieve_cancelled(self) -> None:
        self._ended()
        self.panel.show_status("Retrieve cancelled: what arrived stays in the cache as partial; Retrieve resumes")

    # -- send --------------------------------------------------------------------------------------------------

    def send_dialog(self) -> None:
        from .pacs_send import SendDialog

        if self.state.explanation is None:
            self.report("Nothing to send: explain an image first")
            return
        if not self.refresh_nodes():
            return
        if not self.store.nodes:
            self.report("No PACS node configured: add one in Edit → Preferences → PACS nodes")
            return
        dialog = SendDialog(list(self.store.nodes), self.state.anonymous, self.window)
        if dialog.exec():
            self.send(dialog.node_name(), dialog.kinds(), dialog.anonymize())

    def send(self, name: str, kinds: Sequence[str], anonymize: bool) -> int | None:
        """Export the explanation on screen as `kinds` and send them to node `name`; results go to the panel."""
        from .pacs_send import explanation_export

        node = self.node(name)
        if node is None or self._transfer_running():
            return None
        try:
            export = explanation_export(self.window, self.state, list(kinds), anonymize or self.state.anonymous)
        except RadcamError as exc:
            self.report(" ".join(str(exc).split()))
            return None
        usable, secret = self.secret(node)
        if not usable:
            return None
        self.panel.set_busy(True)
        self.panel.show_status(f"Sending to {node.name}…")
        self.transfer = self.transfers.submit(send_job(node, secret, export), self._sent, self._retrieve_failed,
                                              kind="pacs-send", on_cancel=self._send_cancelled)
        return self.transfer

    def _send_cancelled(self) -> None:
        self._ended()
        self.panel.show_status("Send cancelled: the instances sent before Cancel stay on the PACS")

    def _sent(self, sent: Sent) -> None:
        self._ended()
        self.last_sent = sent
        self.show_dock(True)
        self.panel.set_sent(sent.results)
        self.panel.show_status(sent.summary())
        if sent.refused:
            self.report(sent.summary())
        else:
            self.window.statusBar().showMessage(sent.summary(), 10000)

    def shutdown(self) -> None:
        self.query_thread.shutdown(0.2)
        self.transfer_thread.shutdown(0.2)


__all__ = ["PacsController"]
