"""The values the application passes around: what a request asks for, what a model is, what came back.

An ExplainKey names everything an explanation depends on; a result whose key is no longer the state's current
one is stale (ViewerState.current / on_screen). Requests are frozen: a job gets a value, never the window.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from viewer.export.explanation import OverlayStyle

if TYPE_CHECKING:
    from viewer.cam import CamResult
    from viewer.render import OverlayRenderer


@dataclass(frozen=True)
class ExplainSettings:
    """What the model must recompute for: method, target (None: the top class) and layer (None: the default)."""

    method: str = "gradcam"
    target: int | None = None
    layer: str | None = None


@dataclass(frozen=True)
class ExplainKey:
    """The image, frame, settings and model an explanation was made for."""

    path: str
    frame: int
    method: str
    target: int | None
    layer: str | None
    model: str | None

    @property
    def settings(self) -> ExplainSettings:
        return ExplainSettings(self.method, self.target, self.layer)


@dataclass(frozen=True)
class ModelInfo:
    path: Path
    name: str
    description: str  # the sidecar's, shown as given: it is where a model says what it is (and is not) for
    input_size: tuple[int, ...]
    channels: int
    labels: list[str]
    targets: list[str]  # what a CAM can explain: the labels, plus "not X" for a single sigmoid output
    thresholds: dict[str, float]  # decision threshold per label
    device: str
    layers: list[tuple[str, str]]  # (name, description) of each layer with a spatial output
    default_layer: str
    load_ms: float
    sha256: str  # of the model file (key of remembered trust in an unsafe model); "" when no trust was in play
    unsafe: bool  # loaded with unsafe deserialisation (code in the file may have run)
    expects: dict[str, Any] | None = None  # the images it is made for (sidecar 'expects', viewer.model.domain)

    def details(self) -> list[str]:
        size = "×".join(str(v) for v in (*self.input_size, self.channels))
        labels = ", ".join(self.labels[:12]) + (f" … (+{len(self.labels) - 12})" if len(self.labels) > 12 else "")
        return [f"Input {size}", f"Labels: {labels}", f"Device: {self.device}"]

    def not_for_diagnosis(self) -> bool:
        """Whether the model's own description says it is synthetic or not for clinical use."""
        from viewer.model.spec import not_for_diagnosis  # the same rule as the exports' burned-in warning

        return not_for_diagnosis(self.description)


@dataclass(frozen=True)
class ExplainRequest:
    """Everything an explanation depends on; `key` tells the state whether a result is still current."""

    key: ExplainKey
    pixels: np.ndarray  # what the model sees: the default rendering of the frame
    base: np.ndarray  # what the user sees (window, inversion): the overlay is drawn on it
    style: OverlayStyle

    @property
    def method(self) -> str:
        return self.key.method

    @property
    def target(self) -> int | None:
        return self.key.target

    @property
    def layer(self) -> str | None:
        return self.key.layer


@dataclass(eq=False)
class Explanation:
    """A CAM with its first heatmap and overlay already drawn, so the UI thread only has to show them."""

    key: ExplainKey
    result: CamResult
    base: np.ndarray
    renderer: OverlayRenderer  # over `base`, reused for every slider move
    heatmap: np.ndarray
    overlay: np.ndarray | None
    style: OverlayStyle  # what `heatmap` and `overlay` were drawn with


@dataclass(frozen=True, eq=False)
class TrustRequest:
    """Check one explanation that is on screen."""

    key: ExplainKey
    pixels: np.ndarray  # the image the map was computed on
    result: CamResult
    region: np.ndarray | None  # bool mask of the user's box, at the image size


@dataclass(frozen=True, eq=False)
class CompareRequest:
    """Every method's overlay of the image on screen, for its target and layer."""

    key: ExplainKey
    pixels: np.ndarray
    base: np.ndarray  # the overlays are drawn on what the user sees
    style: OverlayStyle
    header: str

    @property
    def target(self) -> int | None:
        return self.key.target

    @property
    def layer(self) -> str | None:
        return self.key.layer

