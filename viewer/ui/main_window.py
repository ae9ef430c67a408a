"""The main window: browser | Original, Heatmap, Overlay | controls, and the flow between them and the threads.

Flow: selecting an image decodes it on the IO thread; the decoded frame is shown, then (auto-explain) an
explanation request goes to the model thread. Every request carries a key (image, frame, method, target, layer,
model); a result whose job id or key is no longer current is dropped. Threshold, opacity, colour map and contour
redraw the overlay on this thread from the cached CAM and never reach the model thread.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (QFileDialog, QHBoxLayout, QLabel, QMainWindow, QMessageBox, QProgressBar, QPushButton,
                               QSplitter, QTabWidget, QVBoxLayout, QWidget)

from viewer.app.exporting import ExportOptions, ExportPlan, describe
from viewer.app import ViewerState
from viewer.app.requests import ExplainKey, ExplainRequest, ExplainSettings, Explanation, ModelInfo
from viewer.app.session import ModelSession, draw
from viewer.cam import METHODS
from viewer.export.explanation import method_title, target_score
from viewer.io import DisplayImage, Instance, Window, load
from viewer.render import COLORMAPS, OverlayRenderer, heatmap

from . import corner_text, dialogs
from .banner import Banner, DomainBanner
from .browser import StudyBrowser
from .controls import ControlPanel
from .decoding import Decoder
from .export_dialog import ExportDialog
from .menus import Menus
from .settings import Settings
from .views import ImageView, ViewGroup, window_after_drag
from .worker import JobThread
from .thumbnails import thumbnail
from .trust_controller import TrustController
from .trust_panel import TrustPanel

LAYOUTS = {1: ("overlay",), 2: ("original", "overlay"), 3: ("original", "heatmap", "overlay")}
MODEL_FILTER = "Keras models (*.keras *.h5 *.hdf5);;All files (*)"
IMAGE_FILTER = "Studies (*.dcm *.dicom DICOMDIR *.png *.jpg *.jpeg *.tif *.tiff);;All files (*)"


class MainWindow(QMainWindow):
    explanationShown = Signal()  # a CAM for the current image and settings is on screen
    errorReported = Signal(str)  # a one-line reason shown in the banner

    def __init__(self, settings: Settings, parent: QWidget | None = None):
        super().__init__(parent)
        self.settings = settings
        self.setWindowTitle("RadCAM")
        self.setAcceptDrops(True)
        self.model_thread = JobThread("model", self)  # TensorFlow lives on this one only
        self.io_thread = JobThread("io", self)  # decoding the image the user asked for
        self.thumb_thread = JobThread("thumbnails", self)  # background work that must never delay a decode
        self.session = ModelSession()
        self.decoder = Decoder()  # helper processes: a JPEG 2000 decode holds the GIL
        self.state = ViewerState()
        self.overlay_renderer: OverlayRenderer | None = None
        self.explain_pending = False  # explain as soon as the model has loaded
        self.last_overlay_ms = 0.0
        self._jobs: dict[str, int] = {}  # kind -> id of the job whose result is wanted
        self._context: dict[int, dict] = {}  # job id -> what the result handler needs to know
        self.headless = False  # --screenshot: never ask a question, nobody is there to answer
        self.clean_exit = True
        self._progress_job: int | None = None
        self._render_scheduled = False

        self._build_widgets()
        self.trust = TrustController(self)  # before the menus, which connect to it
        self.menus = Menus(self)
        self._connect_threads()
        self._restore()

    # == construction ===========================================================================================

    def _build_widgets(self) -> None:
        self.browser = StudyBrowser()
        self.browser.imageSelected.connect(self.select_image)
        self.browser.thumbnailsWanted.connect(self._make_thumbnails)
        self.browser.openFilesRequested.connect(self.open_files_dialog)
        self.browser.openFolderRequested.connect(self.open_folder_dialog)

        self.views = {"original": ImageView("Original", windowing=True),
                      "heatmap": ImageView("Heatmap", windowing=False),
                      "overlay": ImageView("Overlay", windowing=True)}
        for view in self.views.values():
            view.set_placeholder("Open a study (Ctrl+O) or drop files here")
            view.setAcceptDrops(False)  # drops go to the window
            view.windowDragged.connect(self._on_window_drag)
            view.viewChanged.connect(self._update_corner_text)
        self.view_group = ViewGroup(list(self.views.values()))
        views_row = QWidget()
        row = QHBoxLayout(views_row)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(2)
        for view in self.views.values():
            row.addWidget(view, 1)
        self.banner = Banner()
        self.domain_banner = DomainBanner()  # persistent, unlike the dismissable error strip above it
        centre = QWidget()
        centre_layout = QVBoxLayout(centre)
        centre_layout.setContentsMargins(0, 0, 0, 0)
        centre_layout.setSpacing(2)
        centre_layout.addWidget(self.banner)
        centre_layout.addWidget(self.domain_banner)
        centre_layout.addWidget(views_row, 1)

        self.controls = ControlPanel(METHODS, list(COLORMAPS))
        self.controls.explainRequested.connect(lambda: self.request_explain(force=True))
        self.controls.explainSettingsChanged.connect(self._on_explain_settings)
        self.controls.overlayChanged.connect(self._on_overlay_settings)
        self.controls.openModelRequested.connect(self.open_model_dialog)

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(self.browser)
        self.splitter.addWidget(centre)
        self.trust_panel = TrustPanel()
        self.side_tabs = QTabWidget()
        self.side_tabs.addTab(self.controls, "Explain")
        self.side_tabs.addTab(self.trust_panel, "Trust")
        self.splitter.addWidget(self.side_tabs)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setCollapsible(1, False)
        self.splitter.setSizes([250, 1000, 320])
        self.setCentralWidget(self.splitter)

        status = self.statusBar()
        self.device_label = QLabel("Device: starting…")
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(220)
        self.progress.setTextVisible(True)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop the running job (Esc)")
        self.cancel_button.clicked.connect(self.cancel_job)
        self.timing_label = QLabel("")
        self.progress.hide()
        self.cancel_button.hide()
        status.addPermanentWidget(self.progress)
        status.addPermanentWidget(self.cancel_button)
        status.addPermanentWidget(self.timing_label)
        status.addPermanentWidget(self.device_label)

    def _connect_threads(self) -> None:
        for thread in (self.model_thread, self.io_thread):
            thread.finished.connect(self._on_finished)
            thread.failed.connect(self._on_failed)
            thread.cancelled.connect(self._on_cancelled)
            thread.progressed.connect(self._on_progress)
        self.thumb_thread.finished.connect(self._on_thumbnail)

    def _restore(self) -> None:
        s = self.settings
        geometry = s.bytes("window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            self.resize(1560, 940)
        splitter = s.bytes("window/splitter")
        if splitter is not None:
            self.splitter.restoreState(splitter)
        self.controls.set_method(s.get("explain/method", "gradcam"))
        index = self.controls.colormap.findText(s.get("explain/colormap", ""))
        if index >= 0:
            self.controls.colormap.setCurrentIndex(index)
        self.controls.threshold.setValue(s.get("explain/threshold", 40))
        self.controls.opacity.setValue(s.get("explain/opacity", 50))
        self.controls.contour.setChecked(s.get("explain/contour", True))
        self.controls.auto_explain.setChecked(s.get("explain/auto", True))
        self.trust_panel.automatic.setChecked(s.get("trust/automatic", False))
        self.menus.corner_text.setChecked(s.get("view/corner_text", True))
        self.menus.anonymous.setChecked(s.get("view/anonymous", False))
        self.show_corner_text()
        self.anonymise()
        self.set_layout(s.get("view/layout", 3))

    def save_settings(self) -> None:
        s = self.settings
        s.set("window/geometry", self.saveGeometry())
        s.set("window/splitter", self.splitter.saveState())
        s.set("explain/method", self.controls.method_key())
        s.set("explain/colormap", self.controls.colormap.currentText())
        s.set("explain/threshold", self.controls.threshold.value())
        s.set("explain/opacity", self.controls.opacity.value())
        s.set("explain/contour", self.controls.contour.isChecked())
        s.set("explain/auto", self.controls.auto_explain.isChecked())
        s.set("trust/automatic", self.trust_panel.automatic.isChecked())
        s.set("view/corner_text", self.menus.corner_text.isChecked())
        s.set("view/anonymous", self.menus.anonymous.isChecked())
        s.set("view/layout", self._layout)
        s.sync()

    # == opening ================================================================================================

    def open_forwarded(self, paths: list[str]) -> None:
        """Files from a second `radcam FILE` launch (Open with RadCAM): open them here and come to the front."""
        if paths:
            self.explain_pending = True
            self.open_paths(paths)
        if self.isMinimized():
            self.showNormal()
        self.raise_()
        self.activateWindow()

    def open_paths(self, paths: list[str | Path], select_first: bool = True) -> int:
        """List the studies in `paths` (headers are read on the IO thread) and show the first image."""
        paths = [Path(p) for p in paths]
        if not paths:
            return 0
        self.settings.add_recent([str(p) for p in paths])
        self.statusBar().showMessage(f"Reading {len(paths)} item(s)…")
        return self._submit(self.io_thread, "load", lambda ctx: load(paths), select_first=select_first,
                            paths=paths)

    def open_files_dialog(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self, "Open studies", self._last_dir(), IMAGE_FILTER)
        if files:
            self._remember_dir(files[0])
            self.open_paths(files)

    def open_folder_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open folder", self._last_dir())
        if folder:
            self._remember_dir(folder + "/")
            self.open_paths([folder])

    def open_dicomdir_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open DICOMDIR", self._last_dir(), "DICOMDIR (DICOMDIR);;All (*)")
        if path:
            self._remember_dir(path)
            self.open_paths([path])

    def _last_dir(self) -> str:
        return self.settings.get("file/last_dir", str(Path.home()))

    def _remember_dir(self, path: str) -> None:
        self.settings.set("file/last_dir", str(Path(path).parent))

    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls() and any(url.isLocalFile() for url in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        paths = [url.toLocalFile() for url in event.mimeData().urls() if url.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.open_paths(paths)

    def _on_loaded(self, result, select_first: bool, paths: list[Path]) -> None:
        new = self.browser.add(result)
        skipped = len(result.skipped)
        if not result.studies and not new:
            reasons = "; ".join(f"{s.path.name}: {s.reason}" for s in result.skipped[:3])
            if skipped > 3:
                reasons = f"any of {skipped} files ({reasons}; … see the skipped list on the left)"
            self.report_error(f"Cannot open {reasons}" if reasons else
                              f"No images found in {', '.join(p.name for p in paths)}")
            return
        note = f" ({skipped} skipped, see the list on the left)" if skipped else ""
        self.statusBar().showMessage(f"Opened {len(new)} image(s){note}", 8000)
        if skipped:
            self.banner.show_message(f"{skipped} file(s) skipped: " + "; ".join(
                f"{s.path.name}: {s.reason}" for s in result.skipped[:3]), "warning")
        if new and (select_first or self.image is None):
            self.browser.select(new[0])

    def _make_thumbnails(self, instances: list[Instance]) -> None:
        for instance in instances:
            self.thumb_thread.submit("thumbnail", lambda ctx, p=instance.path: (p, thumbnail(self.decoder, p)))

    def _on_thumbnail(self, _job_id: int, _kind: str, result) -> None:
        path, image = result
        self.browser.set_thumbnail(path, image)

    # == the current image ======================================================================================

    def select_image(self, instance: Instance, frame: int) -> None:
        """Decode `frame` of `instance` on the IO thread; the newest selection wins."""
        self.statusBar().showMessage(f"Decoding {instance.path.name}…")
        for view in self.views.values():
            view.set_placeholder("Decoding…" if not view.has_image() else "")
        self._submit(self.io_thread, "decode", lambda ctx: decode(self.decoder, instance.path, frame), replace=True,
                     instance=instance, frame=frame)

    def _on_decoded(self, decoded: tuple, instance: Instance, frame: int) -> None:
        image, model_input, span = decoded
        self.image, self.model_input, self.value_span = image, model_input, span
        self.window = None if image.is_color else image.default_window
        self.inverted = False
        self.menus.invert.setChecked(False)
        self.explanation = None
        self.overlay_renderer = None
        self.trust.on_image_changed()
        self.base = model_input  # the default window, not inverted: the same rendering the model gets
        blank = np.zeros(self.base.shape[:2], dtype=np.uint8)
        self.views["original"].set_pixels(self.base)
        self.views["heatmap"].set_pixels(blank)
        self.views["overlay"].set_pixels(self.base)
        for view in self.views.values():
            view.set_placeholder("")
        self.view_group.fit()
        self.menus.show_presets(self.image)
        self._check_domain()
        self._refresh_chrome()
        self.statusBar().showMessage(f"{instance.path.name}", 5000)
        if self.controls.auto_explain.isChecked() or self.explain_pending:
            self.request_explain()
        else:
            self.views["heatmap"].set_placeholder("Press Explain (Ctrl+Return)")
        self._update_corner_text()

    def _render_base(self) -> np.ndarray:
        return self.image.render(window=self.window, invert=self.image.invert != self.inverted)

    def _redraw_base(self) -> None:
        """Re-render the original after window/level or inversion, at most once per event-loop pass."""
        self._render_scheduled = False
        if self.image is None:
            return
        self.base = self._render_base()
        self.views["original"].set_pixels(self.base)
        if self.explanation is not None:
            self.overlay_renderer = OverlayRenderer(self.base, self.explanation.result.cam)
            self._refresh_overlay()
        else:
            self.views["overlay"].set_pixels(self.base)
        self._update_corner_text()

    def _schedule_redraw(self) -> None:
        if not self._render_scheduled:
            self._render_scheduled = True
            QTimer.singleShot(0, self._redraw_base)

    def _on_window_drag(self, dx: float, dy: float) -> None:
        if self.image is None or self.window is None:
            return
        center, width = window_after_drag(self.window.center, self.window.width, dx, dy, self.value_span)
        self.window = Window(center=center, width=width, explanation="manual")
        self._schedule_redraw()

    def preset(self, number: int) -> None:
        """Keys 1-5: the file's windows in file order; 0: the automatic window (always the last)."""
        if self.image is None or self.image.is_color:
            return
        windows = self.image.windows
        chosen = windows[-1] if number == 0 else (windows[number - 1] if number <= len(windows) - 1 else None)
        if chosen is not None:
            self.window = chosen
            self._schedule_redraw()

    def toggle_invert(self) -> None:
        self.inverted = not self.inverted
        self.menus.invert.setChecked(self.inverted)
        self._schedule_redraw()

    def reset_view(self) -> None:
        if self.image is not None:
            self.window = None if self.image.is_color else self.image.default_window
            self.inverted = False
            self.menus.invert.setChecked(False)
            self._schedule_redraw()
        self.view_group.fit()

    # == model ==================================================================================================

    def load_model(self, path: str | Path, unsafe: bool = False) -> int:
        self.model_loading = True
        self.controls.set_model_status("Loading model…", f"{Path(path).name}\nStarting TensorFlow…")
        self.device_label.setText("Device: starting…")
        trusted = self.settings.trusted_models()
        return self._submit(self.model_thread, "model",
                            lambda ctx: self.session.load(Path(path), unsafe, ctx, trusted=trusted),
                            replace=True, path=Path(path), unsafe=unsafe)

    def open_model_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open model", self.settings.get("file/model_dir", ""),
                                              MODEL_FILTER)
        if path:
            self.settings.set("file/model_dir", str(Path(path).parent))
            self.explain_pending = self.image is not None
            self.load_model(path)

    def _on_model(self, info: ModelInfo) -> None:
        self.model_loading = False
        self.model_info = info
        if info.unsafe:  # asked for explicitly (trust dialog or --unsafe-model): not asked again for this file
            self.settings.trust_model(info.sha256)
        self.controls.set_model(info)
        self.device_label.setText(f"Device: {info.device}")
        self.timing_label.setText(f"Model loaded in {info.load_ms / 1000:.1f} s")
        self._check_domain()
        self._refresh_chrome()
        if self.explain_pending or (self.image is not None and self.controls.auto_explain.isChecked()):
            self.request_explain(force=True)
        # After the first explanation, so that it is not delayed; nobody waits for this job's result.
        self.model_thread.submit("warm-up", self.session.warm_up)

    def _check_domain(self) -> None:
        """The red strip when the shown image is outside the loaded model's domain; hidden otherwise."""
        from viewer.model.domain import image_out_of_domain  # no TensorFlow: viewer.model imports it lazily

        reasons = [] if self.image is None or self.model_info is None else image_out_of_domain(
            self.image, self.model_info.expects)
        self.domain_banner.set_reasons(reasons, self.model_info.name if self.model_info else "")

    def device_text(self) -> str:
        return self.model_info.device if self.model_info else ""

    # == explaining =============================================================================================

    def explain_key(self) -> ExplainKey | None:
        if self.image is None:
            return None
        return ExplainKey(str(self.image.path), self.image.frame, self.controls.method_key(),
                          self.controls.target_index(), self.controls.layer_name(),
                          str(self.model_info.path) if self.model_info else None)

    def request_explain(self, force: bool = False) -> int | None:
        """Ask the model thread for the current image and settings; a running explanation is superseded."""
        key = self.explain_key()
        if key is None:
            return None
        if self.model_info is None:
            self.explain_pending = True
            if not self.model_loading:
                self.report_error("No model is loaded: open one with File → Open Model… (Ctrl+M)")
            return None
        self.explain_pending = False
        if not force and self.explanation is not None and self.explanation.key == key:
            # Back to what is on screen: whatever is still running for other settings is stale.
            running = self._jobs.pop("explain", None)
            if running is not None:
                self.model_thread.cancel(running)
            self.views["heatmap"].set_placeholder("")
            return None
        request = ExplainRequest(key=key, pixels=self.model_input, base=self.base, style=self.controls.style())
        self.views["heatmap"].set_placeholder(f"Explaining with {self._method_name()}…")
        self.controls.set_busy(True)
        return self._submit(self.model_thread, "explain", lambda ctx: self.session.explain(request, ctx),
                            replace=True, progress=True)

    def _on_explained(self, explanation: Explanation) -> None:
        if explanation.key != self.explain_key():
            self.dropped_results += 1  # the image or a setting changed while it ran
            return
        result = explanation.result
        self.explanation = explanation
        if explanation.base is not self.base:  # window/level changed while it ran: redraw on the new base
            explanation.renderer = OverlayRenderer(self.base, result.cam)
            explanation.overlay = None
        self.overlay_renderer = explanation.renderer
        if explanation.overlay is not None and explanation.style == self.controls.style():
            self.views["overlay"].set_pixels(explanation.overlay)
        else:  # a slider moved while it ran
            self._refresh_overlay()
        self._recolour_heatmap()
        self.views["heatmap"].set_pixels(explanation.heatmap)
        self.views["heatmap"].set_placeholder("The map localises nothing for this target (no activation "
                                                 "above zero, or the same everywhere)" if result.empty else "")
        self.controls.set_predictions(result.predictions, result.target["index"])
        total = sum((result.timings_ms or {}).values())
        self.timing_label.setText(f"{self._method_name()}: {total:.0f} ms" if total else "")
        if result.device:
            self.device_label.setText(f"Device: {result.device}")
        self._update_corner_text()
        self.trust.on_explained()
        self.explanationShown.emit()

    def _on_explain_settings(self) -> None:
        if self.controls.auto_explain.isChecked():
            self.request_explain()
        elif self.explanation is not None:
            self.statusBar().showMessage("Settings changed: press Explain (Ctrl+Return) to update", 6000)

    def _method_name(self) -> str:
        return method_title(self.controls.method_key())

    # == overlay (UI thread, no model) ==========================================================================

    def _on_overlay_settings(self) -> None:
        if self._recolour_heatmap():
            self.views["heatmap"].set_pixels(self.explanation.heatmap)
        self._refresh_overlay()
        self._update_corner_text()

    def _recolour_heatmap(self) -> bool:
        """Colour the heatmap again when the colour map changed after the job drew it; True when it did."""
        colormap = self.controls.colormap.currentText()
        if self.explanation is None or self.explanation.style.colormap == colormap:
            return False
        self.explanation.heatmap = heatmap(self.explanation.result.cam, colormap)
        self.explanation.style = replace(self.explanation.style, colormap=colormap)
        return True

    def _refresh_overlay(self) -> None:
        if self.overlay_renderer is None:
            return
        start = time.perf_counter()
        self.views["overlay"].set_pixels(draw(self.overlay_renderer, self.controls.style()))
        self.last_overlay_ms = (time.perf_counter() - start) * 1000

    # == corner text and layout =================================================================================

    def _update_corner_text(self) -> None:
        if self.image is None:
            return
        zoom = self.view_group.zoom_percent()
        inverted = self.inverted
        self.views["original"].set_corner_text(corner_text.original(
            self.image, self.window, inverted, zoom, self.menus.anonymous.isChecked()))
        result = self.explanation.result if self.explanation else None
        target = f"{result.target['name']}" if result else ""
        if result:
            score = target_score(result)
            target += f"  {score:.3f}" if score is not None else ""
        self.views["heatmap"].set_corner_text(corner_text.heatmap(
            method_title(result.method) if result else "", target,
            result.layer if result else "", zoom))
        self.views["overlay"].set_corner_text(corner_text.overlay(
            self.controls.threshold_value_f(), self.controls.opacity_value_f(), self.controls.colormap.currentText(),
            None if self.image.is_color else self.window, inverted, zoom))

    def show_corner_text(self) -> None:
        for view in self.views.values():
            view.set_corner_text_visible(self.menus.corner_text.isChecked())

    def anonymise(self) -> None:
        self.browser.set_anonymous(self.menus.anonymous.isChecked())
        self._update_corner_text()
        self._refresh_chrome()

    def _refresh_chrome(self) -> None:
        """Title bar and Explain button: the file name (not when anonymising: file names are often patient
        names), and Explain only with both an image and a model."""
        self.controls.explain.setEnabled(self.image is not None and self.model_info is not None)
        if self.image is None:
            self.setWindowTitle("RadCAM")
        elif self.menus.anonymous.isChecked():
            self.setWindowTitle(f"RadCAM — {self.image.metadata.get('modality') or 'image'} (anonymised)")
        else:
            self.setWindowTitle(f"RadCAM — {self.image.path.name}")

    def set_layout(self, count: int) -> None:
        count = count if count in LAYOUTS else 3
        self._layout = count
        self.menus.layouts[count].setChecked(True)
        for name, view in self.views.items():
            view.setVisible(name in LAYOUTS[count])

    def show_shortcuts(self) -> None:
        dialogs.ShortcutsDialog(self.menus.all_actions(), self).exec()

    # == export =================================================================================================

    def export_dialog(self, batch: bool = False) -> None:
        if self.image is None:
            self.report_error("Nothing to export: open an image first")
            return
        options = ExportOptions.from_settings(self.settings.get)
        options.batch = batch
        options.anonymize = options.anonymize or self.menus.anonymous.isChecked()
        dialog = ExportDialog(options, len(self.browser.instances()), self)
        if dialog.exec():
            self.export(dialog.options())

    def export(self, options: ExportOptions, confirm=None) -> int | None:
        """Write the chosen panels; existing files are replaced only after `confirm(paths)` (a question box)."""
        for key, value in options.to_settings().items():
            self.settings.set(f"export/{key}", value)
        self.state_sync()
        plan = ExportPlan(self.state, options, [i.path for i in self.browser.instances()],
                          self.view_group.zoom_percent())
        refusal = plan.refusal()
        if refusal is not None:
            self.report_error(refusal)
            return None
        if plan.existing and not (confirm or self._confirm_overwrite)(plan.existing):
            return None
        thread = self.model_thread if plan.batch else self.io_thread
        return self._submit(thread, "export", plan.job(self.session, self.decoder.image), progress=True)

    def _confirm_overwrite(self, existing: list[Path]) -> bool:
        names = "\n".join(str(p) for p in existing[:8]) + ("\n…" if len(existing) > 8 else "")
        answer = QMessageBox.question(self, "Replace files?", f"{len(existing)} file(s) exist already:\n{names}\n\n"
                                      "Replace them?", QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                                      QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    # == jobs ===================================================================================================

    def _submit(self, thread: JobThread, kind: str, fn, replace: bool = False, progress: bool = False,
                **context) -> int:
        job_id = thread.submit(kind, fn, replace=replace)
        self._jobs[kind] = job_id
        self._context[job_id] = context
        if progress:
            self._progress_job = job_id
            self.progress.setRange(0, 0)  # busy until the first progress report
            self.progress.show()
            self.cancel_button.show()
        return job_id

    def _current(self, job_id: int, kind: str) -> dict | None:
        """The job's context when its result is still wanted, else None (a newer job of the kind exists)."""
        context = self._context.pop(job_id, None)
        if self._jobs.get(kind) != job_id:
            if kind == "explain":
                self.dropped_results += 1
            return None
        return context

    def _on_finished(self, job_id: int, kind: str, result) -> None:
        self._job_ended(job_id)
        context = self._current(job_id, kind)
        if context is None:
            return
        if kind == "load":
            self._on_loaded(result, **context)
        elif kind == "decode":
            self._on_decoded(result, **context)
        elif kind == "model":
            self._on_model(result)
        elif kind == "explain":
            self._on_explained(result)
        elif kind in ("trust", "compare"):
            self.trust.on_finished(kind, result)
        elif kind == "export":
            self.statusBar().showMessage(describe(result), 10000)

    def _on_failed(self, job_id: int, kind: str, message: str) -> None:
        self._job_ended(job_id)
        context = self._current(job_id, kind)
        if context is None:
            return
        if kind == "model":
            self.model_loading = False
            if self.model_info is None:
                self.controls.set_model_status("No model", "Open one with File → Open Model… (Ctrl+M)")
                self.device_label.setText("Device: none")
            else:  # the previous model is still loaded and in use
                self.controls.set_model_status(self.model_info.name, "\n".join(self.model_info.details()))
                self.device_label.setText(f"Device: {self.model_info.device}")
            if not context["unsafe"] and "unsafe deserialisation" in message and not self.headless:
                if dialogs.confirm_trust(self, str(context["path"]), message):
                    self.load_model(context["path"], unsafe=True)
                    return
        if kind == "decode":
            for view in self.views.values():
                view.set_placeholder("")
        if kind == "explain":
            self.views["heatmap"].set_placeholder("Explanation failed")
        self.trust.on_failed(kind)
        self.report_error(message)

    def _on_cancelled(self, job_id: int, kind: str) -> None:
        self._job_ended(job_id)
        if self._current(job_id, kind) is not None:
            self.statusBar().showMessage("Cancelled", 5000)
            if kind == "explain":
                self.views["heatmap"].set_placeholder("Cancelled: press Explain (Ctrl+Return)")

    def _on_progress(self, job_id: int, fraction: float) -> None:
        if job_id == self._progress_job:
            self.progress.setRange(0, 100)
            self.progress.setValue(int(fraction * 100))

    def _job_ended(self, job_id: int) -> None:
        if job_id == self._progress_job:
            self._progress_job = None
            self.progress.hide()
            self.cancel_button.hide()
            self.controls.set_busy(False)

    def cancel_job(self) -> None:
        if self._progress_job is not None:
            self.model_thread.cancel(self._progress_job)
            self.io_thread.cancel(self._progress_job)

    def report_error(self, message: str) -> None:
        """Show a one-line reason in the banner; the window stays usable."""
        self.banner.show_message(message, "error")
        self.statusBar().showMessage(message, 10000)
        self.errorReported.emit(message)

    def state_sync(self) -> None:
        """The settings the controls hold, into the state (until the controls write them there themselves)."""
        self.state.settings = ExplainSettings(self.controls.method_key(), self.controls.target_index(),
                                              self.controls.layer_name())
        self.state.style = self.controls.style()

    # == closing ================================================================================================

    def closeEvent(self, event) -> None:
        if not self.headless:  # screenshot runs leave the user's settings alone
            self.save_settings()
        self.shutdown()
        event.accept()

    def shutdown(self) -> None:
        """Stop the threads; a TensorFlow call cannot be interrupted, so app.main leaves without it if need be."""
        self.decoder.shutdown()
        self.clean_exit = all([self.thumb_thread.shutdown(0.2), self.io_thread.shutdown(0.4),
                               self.model_thread.shutdown(1.0)])


def _delegate(name: str) -> property:
    return property(lambda self: getattr(self.state, name), lambda self, value: setattr(self.state, name, value))


for _window_name, _state_name in (("model_info", "model"), ("model_loading", "model_loading"), ("image", "image"),
                                  ("model_input", "model_input"), ("value_span", "value_span"), ("window", "window"),
                                  ("inverted", "inverted"), ("base", "base"), ("explanation", "explanation"),
                                  ("dropped_results", "dropped_results")):
    setattr(MainWindow, _window_name, _delegate(_state_name))


def decode(decoder: Decoder, path: Path, frame: int) -> tuple[DisplayImage, np.ndarray, float]:
    """On the IO thread: the frame, its default rendering (the model's input) and its value range."""
    image = decoder.image(path, frame)
    return image, image.render(), image.value_span()
