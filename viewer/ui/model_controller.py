"""The model: loading it on the model thread (asking before unsafe deserialisation), its status and its domain."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QMainWindow

from viewer.app import ModelInfo, ViewerState
from viewer.app.session import ModelSession

from . import dialogs
from .banner import DomainBanner
from .controls import ControlPanel
from .jobs import QtJobs
from .settings import Settings

MODEL_FILTER = "Keras models (*.keras *.h5 *.hdf5);;All files (*)"


class ModelController:
    def __init__(self, window: QMainWindow, state: ViewerState, jobs: QtJobs, session: ModelSession,
                 controls: ControlPanel, domain_banner: DomainBanner, settings: Settings,
                 report: Callable[[str], None], headless: Callable[[], bool]):
        self.window, self.state, self.jobs, self.session, self.controls = window, state, jobs, session, controls
        self.domain_banner, self.settings, self.report, self.headless = domain_banner, settings, report, headless
        controls.openModelRequested.connect(self.open_dialog)
        state.connect("image", self._check_domain)
        state.connect("model", self._check_domain)

    def load(self, path: str | Path, unsafe: bool = False) -> int:
        path = Path(path)
        self.state.model_loading = True
        self.controls.set_model_status("Loading model…", f"{path.name}\nStarting TensorFlow…")
        self.jobs.show_device("starting…")
        trusted, session = self.settings.trusted_models(), self.session
        return self.jobs.model.submit(lambda reporter: session.load(path, unsafe, reporter, trusted=trusted),
                                      self._loaded, lambda message: self._failed(message, path, unsafe),
                                      kind="model", replace=True)

    def open_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.window, "Open model", self.settings.get("file/model_dir", ""),
                                              MODEL_FILTER)
        if path:
            self.settings.set("file/model_dir", str(Path(path).parent))
            self.state.explain_pending = self.state.image is not None
            self.load(path)

    def device_text(self) -> str:
        return self.state.model.device if self.state.model else ""

    def _loaded(self, info: ModelInfo) -> None:
        self.state.model_loading = False
        if info.unsafe:  # asked for explicitly (trust dialog or --unsafe-model): not asked again for this file
            self.settings.trust_model(info.sha256)
        self.controls.set_model(info)
        self.jobs.show_device(info.device)
        self.jobs.show_timing(f"Model loaded in {info.load_ms / 1000:.1f} s")
        self.state.model = info  # the explanation is asked for here, when one is wanted
        # After the first explanation, so that it is not delayed; nobody waits for this job's result.
        self.jobs.model.thread.submit("warm-up", self.session.warm_up)

    def _failed(self, message: str, path: Path, unsafe: bool) -> None:
        self.state.model_loading = False
        info = self.state.model
        if info is None:
            self.controls.set_model_status("No model", "Open one with File → Open Model… (Ctrl+M)")
            self.jobs.show_device("none")
        else:  # the previous model is still loaded and in use
            self.controls.set_model_status(info.name, "\n".join(info.details()))
            self.jobs.show_device(info.device)
        if not unsafe and "unsafe deserialisation" in message and not self.headless():
            if dialogs.confirm_trust(self.window, str(path), message):
                self.load(path, unsafe=True)
                return
        self.report(message)

    def _check_domain(self, _value: object = None) -> None:
        """The red strip when the shown image is outside the loaded model's domain; hidden otherwise."""
        from viewer.model.domain import image_out_of_domain  # no TensorFlow: viewer.model imports it lazily

        image, model = self.state.image, self.state.model
        reasons = [] if image is None or model is None else image_out_of_domain(image, model.expects)
        self.domain_banner.set_reasons(reasons, model.name if model else "")
