"""Render resources/icons/radcam.svg to the PNG sizes desktops ask for (hicolor theme: 16 to 512 pixels).

Run after changing the SVG:  QT_QPA_PLATFORM=offscreen python scripts/render_icons.py
"""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
ICONS = Path(__file__).resolve().parent.parent / "resources" / "icons"


def main() -> int:
    app = QGuiApplication(sys.argv)  # noqa: F841  (QPainter needs a GUI application)
    renderer = QSvgRenderer(str(ICONS / "radcam.svg"))
    if not renderer.isValid():
        print("radcam.svg is not a valid SVG", file=sys.stderr)
        return 1
    for size in SIZES:
        image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
        image.fill(Qt.GlobalColor.transparent)
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        renderer.render(painter)
        painter.end()
        image.save(str(ICONS / f"radcam_{size}.png"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
