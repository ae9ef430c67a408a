"""The panel layouts of View → Layout (Alt+1..5), as one table, and how they are put on screen.

A square chest film in three tall, narrow panels fills a third of each; the other layouts give it the room: one
panel, a large overlay with the original and the heatmap stacked beside it, or a 2×2 grid. The choice is
remembered per user (viewer.ui.remembered's "view/layout" row). Compare with Prior replaces the whole area.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QGridLayout, QWidget

if TYPE_CHECKING:
    from .main_window import MainWindow
    from .views import ImageView

DEFAULT = 3


@dataclass(frozen=True)
class Layout:
    title: str  # the menu item
    cells: dict[str, tuple[int, int, int, int]]  # view -> row, column, row span, column span
    columns: tuple[int, ...] = ()  # stretch of each column; equal when empty
    rows: tuple[int, ...] = ()


LAYOUTS = {
    1: Layout("One Panel (Overlay)", {"overlay": (0, 0, 1, 1)}),
    2: Layout("Two Panels (Original, Overlay)", {"original": (0, 0, 1, 1), "overlay": (0, 1, 1, 1)}),
    3: Layout("Three Panels in a Row", {"original": (0, 0, 1, 1), "heatmap": (0, 1, 1, 1), "overlay": (0, 2, 1, 1)}),
    4: Layout("Large Overlay, Original and Heatmap Beside",
              {"overlay": (0, 0, 2, 1), "original": (0, 1, 1, 1), "heatmap": (1, 1, 1, 1)}, columns=(2, 1)),
    5: Layout("Grid (2×2)", {"original": (0, 0, 1, 1), "heatmap": (0, 1, 1, 1), "overlay": (1, 0, 1, 1)}),
}


def install(area: QWidget, views: dict[str, ImageView]) -> None:
    """A grid on `area` holding the views in the default layout."""
    grid = QGridLayout(area)
    grid.setContentsMargins(0, 0, 0, 0)
    grid.setSpacing(2)
    arrange(grid, views, DEFAULT)


def arrange(grid: QGridLayout, views: dict[str, ImageView], key: int) -> None:
    layout = LAYOUTS[key]
    for view in views.values():
        grid.removeWidget(view)
    for index in range(max(grid.columnCount(), 3)):  # a column or row no view uses takes no room
        grid.setColumnStretch(index, 0)
        grid.setRowStretch(index, 0)
    for name, view in views.items():
        cell = layout.cells.get(name)
        view.setVisible(cell is not None)
        if cell is not None:
            grid.addWidget(view, *cell)
    columns = max(c + span for _r, c, _rs, span in layout.cells.values())
    rows = max(r + span for r, _c, span, _cs in layout.cells.values())
    for index in range(columns):
        grid.setColumnStretch(index, layout.columns[index] if layout.columns else 1)
    for index in range(rows):
        grid.setRowStretch(index, layout.rows[index] if layout.rows else 1)


def apply(window: MainWindow, key: int) -> None:
    """Show layout `key` (an unknown one, from an old settings file, is the default) and tick its menu item."""
    key = key if key in LAYOUTS else DEFAULT
    window.layout_count = key
    window.menus.layouts[key].setChecked(True)
    grid = window.views_row.layout()
    assert isinstance(grid, QGridLayout)
    arrange(grid, window.views, key)
    window.corner_text.update()  # the overlay alone also carries the original's lines
