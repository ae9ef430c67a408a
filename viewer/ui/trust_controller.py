"""Wires the Trust tab to the window: checks and comparisons run on the model thread, pointing on this one.

A check belongs to the explanation it was asked for (its key); a result for a map no longer on screen is dropped,
like a stale explanation.
"""

from __future__ import annotations

from pathlib import Path

from viewer.app.requests import CompareRequest, TrustRequest
from viewer.errors import RadcamError
from viewer.export.explanation import method_title

from .comparison_dialog import ComparisonDialog


class TrustController:
    def __init__(self, window):
        self.window = window
        self.panel = window.trust_panel
        self.box: tuple[int, int, int, int] | None = None
        self.report: dict | None = None  # the last check shown, for the map on screen
        self.comparison: ComparisonDialog | None = None
        self.panel.checkRequested.connect(self.check)
        self.panel.compareRequested.connect(self.compare)
        self.panel.clearBoxRequested.connect(lambda: self.set_box(None))
        for view in window.views.values():
            view.boxDrawn.connect(self.set_box)

    # -- requests (model thread) ---------------------------------------------------------------------------

    def _explanation(self):
        explanation = self.window.explanation
        if explanation is None or explanation.key != self.window.explain_key():
            self.window.report_error("Explain the image first (Ctrl+Return), then check or compare its map")
            return None
        return explanation

    def check(self) -> int | None:
        explanation = self._explanation()
        if explanation is None:
            return None
        request = TrustRequest(key=explanation.key, pixels=self.window.model_input, result=explanation.result,
                               region=self._region(explanation.result.cam.shape))
        self.panel.set_busy(True)
        session = self.window.session
        return self.window._submit(self.window.model_thread, "trust", lambda ctx: session.check(request, ctx),
                                   replace=True, progress=True)

    def compare(self) -> int | None:
        explanation = self._explanation()
        if explanation is None:
            return None
        w = self.window
        key = explanation.key
        header = f"{Path(key.path).name if not w.menus.anonymous.isChecked() else 'image'} · " \
                 f"target {explanation.result.target['name']} · layer {explanation.result.layer}"
        request = CompareRequest(key=key, pixels=w.model_input, base=w.base, style=w.controls.style(),
                                 header=header)
        session = w.session
        return w._submit(w.model_thread, "compare", lambda ctx: session.compare(request, ctx), replace=True,
                         progress=True)

    # -- results -------------------------------------------------------------------------------------------

    def on_finished(self, kind: str, result) -> None:
        key, payload = result
        current = self.window.explanation is not None and key == self.window.explanation.key
        if kind == "trust":
            self.panel.set_busy(False)
            if current:
                self.report = payload
                self.panel.set_report(payload)
        elif kind == "compare" and current:
            folder = self.window.settings.get("export/folder", str(Path.home()))
            self.comparison = ComparisonDialog(payload, str(Path(folder) / "radcam_methods.png"), self.window)
            if not self.window.headless:
                self.comparison.show()

    def on_failed(self, kind: str) -> None:
        if kind == "trust":
            self.panel.set_busy(False)

    def on_explained(self) -> None:
        """A new map is on screen: the old check no longer applies; pointing is instant and redone."""
        self.report = None
        self.panel.clear(f"{method_title(self.window.explanation.result.method)} map: press Check this map "
                         "(Ctrl+T) to measure it.")
        self._show_pointing()
        if self.panel.automatic.isChecked():
            self.check()

    def on_image_changed(self) -> None:
        self.report = None
        self.set_box(None)
        self.panel.clear()

    # -- pointing (this thread: a max and a sum over the map) -----------------------------------------------

    def set_box(self, box: tuple[int, int, int, int] | None) -> None:
        self.box = box
        for view in self.window.views.values():
            view.set_box(box)
        self._show_pointing()

    def _region(self, shape):
        from viewer.trust import box_mask

        if self.box is None:
            return None
        try:
            return box_mask(shape, self.box)
        except RadcamError:
            return None

    def _show_pointing(self) -> None:
        from viewer.trust import localise

        explanation = self.window.explanation
        region = self._region(explanation.result.cam.shape) if explanation is not None else None
        if region is None:
            self.panel.set_pointing(None)
            return
        self.panel.set_pointing(localise(explanation.result.cam, region).to_dict())
