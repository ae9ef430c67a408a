"""What an exported map says it is: model, method, target and score, the CAM threshold, the target label's decision
threshold and, when the model's sidecar says so, NOT FOR DIAGNOSIS (the viewer's badge rule, viewer.model.spec)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from viewer.model.spec import not_for_diagnosis
from viewer.render import CAM_THRESHOLD_LABEL, DEFAULTS

NOT_FOR_DIAGNOSIS = "NOT FOR DIAGNOSIS"


@dataclass(frozen=True)
class ModelCard:
    """What an export needs to know about the model: its name, its sidecar description, its decision thresholds."""

    name: str
    description: str = ""
    thresholds: Mapping[str, float] = field(default_factory=dict)

    @classmethod
    def of(cls, model: Any) -> ModelCard:
        """From a LoadedModel (.name, .spec), a ModelInfo (.name, .description, .thresholds), a card or a name."""
        if isinstance(model, ModelCard):
            return model
        if isinstance(model, str):
            return cls(model)
        spec = getattr(model, "spec", None)
        source = spec if spec is not None else model
        return cls(str(model.name), getattr(source, "description", None) or "",
                   dict(getattr(source, "thresholds", None) or {}))

    @property
    def not_for_diagnosis(self) -> bool:
        return not_for_diagnosis(self.description)

    def decision_threshold(self, label: str) -> float:
        return float(self.thresholds.get(label, DEFAULTS.decision_threshold))


def target_label(result: Any) -> str:
    """The model label the target's decision threshold belongs to ("X" for the complement "not X")."""
    unit = result.target.unit
    return next((str(p["name"]) for p in result.predictions or () if p["index"] == unit), result.target.name)


def caption_lines(result: Any, card: ModelCard, cam_threshold: float, method: str, score: float | None) -> str:
    """Two lines: what the map is (method, target, score, model), then both thresholds, each by its full name."""
    scored = f" {score:.3f}" if score is not None else ""
    label = target_label(result)
    return (f"{method} · {result.target.name}{scored} · model {card.name}\n"
            f"{CAM_THRESHOLD_LABEL} {cam_threshold:.2f} · decision threshold ({label}) "
            f"{card.decision_threshold(label):.2f}")


def warning(card: ModelCard) -> str | None:
    return NOT_FOR_DIAGNOSIS if card.not_for_diagnosis else None
