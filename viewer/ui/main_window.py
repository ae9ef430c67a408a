"""The main window: browser | Original, Heatmap, Overlay | controls, laid out and wired to the controllers.

The state (viewer.app.ViewerState) holds what is shown; each controller owns one concern and changes the state,
and widgets and controllers redraw from the state's events: opening (dialogs, drag and drop, listing,
thumbnails), image (decode, window/level, inversion, redraw), model, explain (requests, overlay), export and
trust. Jobs run on the model and IO threads through viewer.ui.jobs; a stale result is dropped by the state.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QMainWindow, QSplitter, QTabWidget, QVBoxLayout, QWidget

from viewer.app import ViewerState
from viewer.app.review_state import ReviewState
from viewer.app.session import ModelSession
from viewer.cam import METHODS
from viewer.io import DisplayImage
from viewer.render import COLORMAPS

from . import dialogs, layouts, remembered, tools_controller
from .banner import Banner, DomainBanner
from .browser import StudyBrowser
from .contour_layer import ContourLayer
from .controls import ControlPanel
from .corner_text import CornerText
from .decoding import Decoder
from .explain_controller import ExplainController
from .export_controller import ExportController
from .image_controller import ImageController
from .jobs import QtJobs
from .menus import Menus
from .model_controller import ModelController
from .opening import OpeningController
from .pacs_controller import PacsController
from .presentation_layer import PresentationLayer
from .prior_controller import PriorController, PriorView
from .review_controller import ReviewController
from .review_panel import ReviewPanel
from .session_controller import SessionController
from .settings import Settings
from .trust_controller import TrustController
from .trust_panel import TrustPanel
from .views import ImageView, ViewGroup
from .worker import JobThread
from .worklist_controller import WorklistController
from .worklist_panel import WorklistPanel


class MainWindow(QMainWindow):
    explanationShown = Signal()  # a CAM for the current image and settings is on screen
    errorReported = Signal(str)  # a one-line reason shown in the banner

    def __init__(self, settings: Settings, parent: QWidget | None = None):
        super().__init__(parent)
        self.settings = settings
        self.setWindowTitle("RadCAM")
        self.setAcceptDrops(True)
        self.state = ViewerState()
        self.review_state = ReviewState()  # the review session: worklist, verdicts, its file
        self.session = ModelSession()  # used by jobs on the model thread only
        self.model_thread = JobThread("model", self)  # TensorFlow lives on this one only
        self.io_thread = JobThread("io", self)  # decoding the image the user asked for
        self.decoder = Decoder()  # helper processes: a JPEG 2000 decode holds the GIL
        self.headless = False  # --screenshot: never ask a question, nobody is there to answer
        self.clean_exit = True
        self.layout_count = 3
        self.instance_server: QObject | None = None  # viewer.ui.single_instance's, set by app.create
        self._build_widgets()
        self.jobs = QtJobs(self.model_thread, self.io_thread, self.statusBar())
        self.jobs.cancelled.connect(lambda _kind: self.statusBar().showMessage("Cancelled", 5000))
        self._build_controllers()
        self.menus = Menus(self)
        self._wire()
        remembered.restore(self, settings)
        self.explaining.sync()

    # == layout =================================================================================================

    def _build_widgets(self) -> None:
        self.browser = StudyBrowser()
        self.worklist_panel = WorklistPanel()
        self.left_tabs = QTabWidget()  # the flat worklist first; the study tree for DICOM hierarchies
        self.left_tabs.addTab(self.worklist_panel, "Worklist")
        self.left_tabs.addTab(self.browser, "Studies")
        self.views = {"original": ImageView("Original", windowing=True),
                      "heatmap": ImageView("Heatmap", windowing=False),
                      "overlay": ImageView("Overlay", windowing=True)}
        for view in self.views.values():
            view.set_placeholder("Open a study (Ctrl+O) or drop files here")
            view.setAcceptDrops(False)  # drops go to the window
        self.view_group = ViewGroup(list(self.views.values()))
        self.views_row = views_row = QWidget()  # the three views; the prior layout takes its place
        layouts.install(views_row, self.views)
        self.banner = Banner()
        self.domain_banner = DomainBanner()  # persistent, unlike the dismissable error strip above it
        centre = QWidget()
        centre_layout = QVBoxLayout(centre)
        centre_layout.setContentsMargins(0, 0, 0, 0)
        centre_layout.setSpacing(2)
        centre_layout.addWidget(self.banner)
        centre_layout.addWidget(self.domain_banner)
        centre_layout.addWidget(views_row, 1)
        self.prior_view = PriorView()  # Compare with Prior (Ctrl+P): shown in place of views_row
        centre_layout.addWidget(self.prior_view, 1)

        self.controls = ControlPanel(METHODS, list(COLORMAPS))
        self.trust_panel = TrustPanel()
        self.side_tabs = QTabWidget()
        self.side_tabs.addTab(self.controls, "Explain")
        self.side_tabs.addTab(self.trust_panel, "Trust")
        self.review_panel = ReviewPanel()
        self.side_tabs.addTab(self.review_panel, "Review")
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(self.left_tabs)
        self.splitter.addWidget(centre)
        self.splitter.addWidget(self.side_tabs)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setCollapsible(1, False)
        self.splitter.setSizes([400, 900, 320])
        self.setCentralWidget(self.splitter)

    def _build_controllers(self) -> None:
        """One controller per concern; the order is the order in which they hear the state's events."""
        state, jobs, report, headless = self.state, self.jobs, self.report_error, lambda: self.headless
        self.opening = OpeningController(self, state, jobs, self.browser, self.banner, self.settings, self.decoder,
                                         report)
        self.imaging = ImageController(self, state, jobs, self.views, self.view_group, self.decoder, report)
        self.models = ModelController(self, state, jobs, self.session, self.controls, self.domain_banner,
                                      self.settings, report, headless)
        self.explaining = ExplainController(self, state, jobs, self.session, self.controls, self.views, report)
        self.trust = TrustController(self, state, jobs, self.session, self.trust_panel, self.views, self.settings,
                                     report, headless)
        self.exporting = ExportController(self, state, jobs, self.session, self.browser, self.view_group,
                                          self.decoder, self.settings, report)
        self.corner_text = CornerText(state, self.views, self.view_group)
        self.tools = tools_controller.ToolsController(self, state, self.views, report)  # flips, loupe, ruler, CTR
        self.contours = ContourLayer(state, self.views["overlay"])
        self.presentation = PresentationLayer(state, self.views["original"], report)  # a GSPS opened with the image
        self.priors = PriorController(self, state, self.review_state, jobs, self.session, self.prior_view,
                                      self.views_row, self.decoder, report)
        self.reviewing = ReviewController(self, state, self.review_state, jobs, self.session, self.decoder,
                                          self.review_panel, self.views, self.imaging.select, report)
        self.sessions = SessionController(self, state, self.review_state, self.reviewing, jobs, self.session,
                                          self.models.load, self.controls, self.settings, report, headless)
        self.worklist = WorklistController(self, state, self.review_state, jobs, self.session, self.worklist_panel,
                                           self.left_tabs, self.settings, self.imaging.select, report)
        self.reviewing.order = self.worklist_panel.walk  # J/K follow the worklist as sorted and filtered
        self.pacs = PacsController(self, state, jobs, self.open_paths, report, headless)  # View → PACS, Send

    def _wire(self) -> None:
        state = self.state
        self.browser.imageSelected.connect(self.imaging.select)
        self.opening.loaded.connect(self.worklist.add)
        self.opening.loaded.connect(self.presentation.add)
        self.worklist_panel.openFilesRequested.connect(self.opening.open_files_dialog)
        self.worklist_panel.openFolderRequested.connect(self.opening.open_folder_dialog)
        self.explaining.shown.connect(self.explanationShown)
        state.connect("image", self.menus.show_presets)
        state.connect("image", lambda _image: self.menus.invert.setChecked(False))
        state.connect("inverted", self.menus.invert.setChecked)
        state.connect("anonymous", self.browser.set_anonymous)
        for name in ("image", "model", "anonymous"):
            state.connect(name, self._refresh_chrome)

    # == the window's own commands ==============================================================================

    def open_paths(self, paths: Sequence[str | Path], select_first: bool = True) -> int:
        return self.opening.open_paths(paths, select_first)

    def load_model(self, path: str | Path, unsafe: bool = False) -> int:
        return self.models.load(path, unsafe)

    def open_forwarded(self, paths: list[str]) -> None:
        """Files from a second `radcam FILE` launch (Open with RadCAM): open them here and come to the front."""
        if paths:
            self.state.explain_pending = True
            self.open_paths(paths)
        if self.isMinimized():
            self.showNormal()
        self.raise_()
        self.activateWindow()

    def dragEnterEvent(self, event) -> None:
        self.opening.accepts(event)

    def dropEvent(self, event) -> None:
        self.opening.drop(event)

    def show_corner_text(self) -> None:
        for view in self.views.values():
            view.set_corner_text_visible(self.menus.corner_text.isChecked())

    def anonymise(self) -> None:
        self.state.anonymous = self.menus.anonymous.isChecked()

    def _refresh_chrome(self, _value: object = None) -> None:
        """Title bar and Explain button: the file name (not when anonymising: file names are often patient
        names), and Explain only with both an image and a model."""
        image: DisplayImage | None = self.state.image
        self.controls.set_explain_enabled(image is not None and self.state.model is not None)
        if image is None:
            self.setWindowTitle("RadCAM")
        elif self.state.anonymous:
            self.setWindowTitle(f"RadCAM — {image.metadata.get('modality') or 'image'} (anonymised)")
        else:
            self.setWindowTitle(f"RadCAM — {image.path.name}")

    def set_layout(self, count: int) -> None:
        layouts.apply(self, count)

    def show_shortcuts(self) -> None:
        dialogs.ShortcutsDialog(self.menus.all_actions(), self).exec()

    def report_error(self, message: str) -> None:
        """Show a one-line reason in the banner; the window stays usable."""
        message = self.worklist_panel.model.scrub(message)  # no file or patient name while anonymising
        self.banner.show_message(message, "error")
        self.statusBar().showMessage(message, 10000)
        self.errorReported.emit(message)

    # == closing ================================================================================================

    def save_settings(self) -> None:
        remembered.save(self, self.settings)

    def closeEvent(self, event) -> None:
        if not self.sessions.may_drop():  # verdicts in no session file: saved, let go, or the window stays
            event.ignore()
            return
        if not self.headless:  # screenshot runs leave the user's settings alone
            self.save_settings()
        self.sessions.shutdown()  # the last seconds on the image saved, the session's lock let go
        self.shutdown()
        event.accept()

    def shutdown(self) -> None:
        """Stop the threads; a TensorFlow call cannot be interrupted, so app.main leaves without it if need be."""
        self.decoder.shutdown()
        self.pacs.shutdown()
        self.clean_exit = all([self.opening.thumb_thread.shutdown(0.2), self.io_thread.shutdown(0.4),
                               self.model_thread.shutdown(1.0)])
