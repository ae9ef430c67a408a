"""Message strips above the images. `Banner`: dismissable; errors are shown here, never in a modal box, so reading
goes on. `DomainBanner`: the image is outside the model's domain; red, and it stays while that image and model are
shown (a patient-safety notice is not something to click away and forget)."""

from __future__ import annotations

from html import escape

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QToolButton, QWidget


class Banner(QFrame):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("banner")
        self.text = QLabel()
        self.text.setWordWrap(True)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        close = QToolButton()
        close.setText("✕")
        close.setAutoRaise(True)
        close.setToolTip("Dismiss")
        close.clicked.connect(self.hide)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 6, 6, 6)
        layout.addWidget(self.text, 1)
        layout.addWidget(close, 0, Qt.AlignmentFlag.AlignTop)
        self.hide()

    def show_message(self, text: str, level: str = "error") -> None:
        self.text.setText(text)
        self.setProperty("level", level)
        self.style().unpolish(self)  # the stylesheet picks its colour by the level property
        self.style().polish(self)
        self.show()

    def message(self) -> str:
        return self.text.text() if self.isVisible() else ""


# Its own red, brighter than the error strip's: it must not read as a stale error that can be dismissed.
DOMAIN_STYLE = ("QFrame#domainBanner { background: #8b1a1a; border: 2px solid #ff5c5c; border-radius: 3px; } "
                "QFrame#domainBanner QLabel { color: #ffffff; }")


class DomainBanner(QFrame):
    """Why the shown image is outside the loaded model's domain (viewer.model.domain); hidden when it is inside."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("domainBanner")
        self.setStyleSheet(DOMAIN_STYLE)
        self.text = QLabel()
        self.text.setWordWrap(True)
        self.text.setTextFormat(Qt.TextFormat.RichText)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 6, 10, 6)
        layout.addWidget(self.text, 1)
        self._reasons: list[str] = []
        self.hide()

    def set_reasons(self, reasons: list[str], model: str = "") -> None:
        """Show `reasons` (in words, one per line); [] hides the strip."""
        self._reasons = list(reasons)
        if not reasons:
            self.hide()
            return
        items = "".join(f"<li>{escape(reason)}</li>" for reason in reasons)
        who = escape(model or "the model")
        self.text.setText(f"<b>⚠ Outside the model's domain:</b> this image is not what {who} was made for; "
                          "its scores and maps mean nothing here."
                          f"<ul style='margin: 2px 0 0 -20px;'>{items}</ul>")
        self.setToolTip("The model's sidecar says which images it expects ('expects': modalities, body parts, "
                        "views, size, grey or colour)")
        self.show()

    def reasons(self) -> list[str]:
        return [] if self.isHidden() else list(self._reasons)
