"""The menu bar: every command with its shortcut (Help → Keyboard Shortcuts lists them from here).

Keys 1–5 pick the file's window presets and 0 the automatic window, so actual size (1:1) is Ctrl+1 and the
panel layouts are Alt+1..5.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QMenu

from viewer.io import DisplayImage

from . import dialogs
from .layouts import LAYOUTS

if TYPE_CHECKING:
    from .main_window import MainWindow


class Menus:
    def __init__(self, window: MainWindow):
        self.window = w = window
        self._menus: list[QMenu] = []
        bar = w.menuBar()

        file = self._menu(bar, "&File")
        self._add(file, "&Open…", w.opening.open_files_dialog, QKeySequence.StandardKey.Open,
                  tip="Open DICOM or image files, or a DICOMDIR")
        self._add(file, "Open &Folder…", w.opening.open_folder_dialog, "Ctrl+Shift+O")
        self._add(file, "Open &DICOMDIR…", w.opening.open_dicomdir_dialog, "Ctrl+Shift+D")
        self.recent = file.addMenu("Open &Recent")
        self.recent.aboutToShow.connect(self._fill_recent)
        file.addSeparator()
        self._add(file, "Open &Model…", w.models.open_dialog, "Ctrl+M")
        file.addSeparator()
        w.sessions.fill_file_menu(file, self._add)  # New/Open/Save As/Close Session, Export Report
        file.addSeparator()
        self._add(file, "&Export…", w.exporting.dialog, "Ctrl+E")
        self._add(file, "Export &All Open Images…", lambda: w.exporting.dialog(batch=True), "Ctrl+Shift+E")
        self._add(file, "Send to &PACS…", w.pacs.send_dialog, tip="The explanation as DICOM objects, to a PACS")
        file.addSeparator()
        self._add(file, "&Quit", w.close, QKeySequence.StandardKey.Quit)

        edit = self._menu(bar, "&Edit")
        self._add(edit, "&Preferences…", w.pacs.preferences, "Ctrl+,", tip="PACS nodes")

        view = self._menu(bar, "&View")
        shown = lambda: w.priors.group(w.view_group)  # noqa: E731 (the views on screen: normal or current|prior)
        self._add(view, "Zoom &In", lambda: shown().zoom_by(1.25), ["+", "Ctrl++"])
        self._add(view, "Zoom &Out", lambda: shown().zoom_by(0.8), ["-", "Ctrl+-"])
        self._add(view, "&Fit to View", lambda: shown().fit(), "F")
        self._add(view, "Actual Size (&1:1)", lambda: shown().actual_size(), "Ctrl+1")
        self._add(view, "&Reset View and Window", self._reset_view, "R")
        view.addSeparator()
        self.invert = self._add(view, "&Invert", w.imaging.toggle_invert, "I", checkable=True)
        presets = self._menu(view, "&Window Presets")
        self.presets = [(number, self._add(presets, f"Preset {number}", lambda _=False, n=number: w.imaging.preset(n),
                                           str(number)))
                        for number in (1, 2, 3, 4, 5, 0)]
        view.addSeparator()
        w.tools.fill_menu(self._menu(view, "&Orientation and Tools"), self._add)  # H V Ctrl+R L D Ctrl+Shift+C
        self.corner_text = self._add(view, "&Corner Text", w.show_corner_text, "T", checkable=True)
        self.anonymous = self._add(view, "&Anonymise Display", w.anonymise, "Ctrl+Shift+A", checkable=True,
                                   tip="Hide patient name, ID, dates and file names")
        layout = self._menu(view, "&Layout")
        group = QActionGroup(window)
        self.layouts = {}
        for count, arrangement in LAYOUTS.items():
            self.layouts[count] = self._add(layout, arrangement.title, lambda _=False, c=count: w.set_layout(c),
                                            f"Alt+{count}", checkable=True)
            group.addAction(self.layouts[count])
        self.compare_prior = self._add(view, "Compare with &Prior", w.priors.show, "Ctrl+P", checkable=True)
        self.presentation = self._add(view, "Presentation Stat&e", w.presentation.toggle, checkable=True,
                                      tip="Draw the presentation state (GSPS) opened with the image, with its window")
        self.presentation.setChecked(w.presentation.enabled)
        self.presentation.setEnabled(False)  # until an image with a presentation state is shown
        w.presentation.available.connect(self.presentation.setEnabled)
        w.priors.toggled.connect(self.compare_prior.setChecked)
        w.priors.available.connect(self._prior_available)
        view.aboutToShow.connect(w.priors.refresh)  # studies opened since may hold a prior
        view.addSeparator()
        self._add(view, "&Next Image", lambda: self._step(1), "Alt+Down")
        self._add(view, "&Previous Image", lambda: self._step(-1), "Alt+Up")
        self._add(view, "Next Frame", lambda: self._step(1, frames=True), "PgDown")
        self._add(view, "Previous Frame", lambda: self._step(-1, frames=True), "PgUp")
        self._add(view, "Filter the &Worklist", w.worklist.focus_filter, "Ctrl+F", tip="Type to filter; Enter: back")
        w.pacs.fill_view_menu(view, self._add)  # the PACS dock: search, retrieve into the worklist
        self._add(view, "Full &Screen", lambda: w.showNormal() if w.isFullScreen() else w.showFullScreen(), "F11")

        explain = self._menu(bar, "E&xplain")
        controls = w.controls
        self._add(explain, "&Explain", lambda: w.explaining.request(force=True), ["Ctrl+Return", "Ctrl+Enter"])
        # The job with the status bar's progress first (an Explain), then the PACS dock's retrieve or send, then the
        # worklist's pre-scan.
        self._add(explain, "&Cancel Job", lambda: w.jobs.cancel_running() if w.jobs.progress_job is not None
                  else w.pacs.cancel() if w.pacs.transfer is not None else w.worklist.cancel_scan(), "Esc")
        self._add(explain, "Next &Method", controls.next_method, "M")
        explain.addSeparator()
        self._add(explain, "Raise &Threshold", lambda: controls.nudge(threshold=5), "]")
        self._add(explain, "Lower T&hreshold", lambda: controls.nudge(threshold=-5), "[")
        self._add(explain, "More &Opacity", lambda: controls.nudge(opacity=10), ".")
        self._add(explain, "Less O&pacity", lambda: controls.nudge(opacity=-10), ",")
        self._add(explain, "Con&tour", controls.contour.toggle, "C")
        self._add(explain, "&Auto-explain on Change", controls.auto_explain.toggle, "A")
        self.all_findings = self._add(explain, "All &Findings", w.explaining.findings.toggle, "G", checkable=True,
                                      tip="Every finding above its decision threshold as a labelled contour")
        explain.addSeparator()
        self._add(explain, "Check This &Map (Trust)", w.trust.check, "Ctrl+T")
        self._add(explain, "Compare All Me&thods…", w.trust.compare, "Ctrl+Shift+M")
        self._add(explain, "Clear Pointing &Box", lambda: w.trust.set_box(None), "Shift+Del")

        w.reviewing.fill_menu(self._menu(bar, "&Review"), self._add)  # verdict keys: Y N U, J K, E, B

        help_menu = self._menu(bar, "&Help")
        self._add(help_menu, "&Keyboard Shortcuts", w.show_shortcuts, QKeySequence.StandardKey.HelpContents)
        self._add(help_menu, "&About RadCAM", lambda: dialogs.show_about(w, w.models.device_text()))
        self.show_presets(None)
        w.priors.refresh()

    def _menu(self, parent, title: str) -> QMenu:
        menu = parent.addMenu(title)
        self._menus.append(menu)
        return menu

    def _add(self, menu: QMenu, text: str, slot, keys=(), checkable: bool = False, tip: str = "") -> QAction:
        action = QAction(text, self.window)
        keys = [keys] if isinstance(keys, (str, QKeySequence.StandardKey)) else keys
        action.setShortcuts([QKeySequence(k) for k in keys])
        action.setCheckable(checkable)
        if tip:
            action.setStatusTip(tip)
        action.triggered.connect(slot)
        menu.addAction(action)
        self.window.addAction(action)  # shortcuts keep working in full screen, with the menu bar hidden
        return action

    def _step(self, offset: int, frames: bool = False) -> None:
        """The next or previous image (or frame) in the worklist's order while its tab is shown, else the tree's."""
        w = self.window
        w.reviewing.finish_note()
        if not (w.worklist.step_frame(offset) if frames else w.worklist.step(offset)):
            (w.browser.step_frame if frames else w.browser.step)(offset)

    def all_actions(self) -> list[tuple[str, QAction]]:
        return [(menu.title().replace("&", ""), action) for menu in self._menus for action in menu.actions()
                if not action.isSeparator() and action.menu() is None]

    def show_presets(self, image: DisplayImage | None) -> None:
        """Name the preset keys after the file's windows (in file order); 0 is always the automatic window."""
        windows = image.windows if image is not None and not image.is_color else []
        file_windows = windows[:-1]
        for number, action in self.presets:
            if number == 0:
                action.setText("Automatic Window")
                action.setEnabled(bool(windows))
            elif number <= len(file_windows):
                window = file_windows[number - 1]
                action.setText(f"{window.explanation}: W {window.width:g} L {window.center:g}")
                action.setEnabled(True)
            else:
                action.setText(f"Preset {number} (none in this file)")
                action.setEnabled(False)

    def _reset_view(self) -> None:
        self.window.imaging.reset_view()
        self.window.tools.reset()  # the file's own orientation
        self.window.priors.reset()  # the prior's own window, and the pair fitted while it is shown

    def _prior_available(self, available: bool, reason: str) -> None:
        """Greyed out without a prior; the status bar says why when the pointer is on it."""
        self.compare_prior.setEnabled(available)
        self.compare_prior.setStatusTip("The same patient's earlier study beside this one: zoom and pan together, a "
                                        "window each, the score change" if available else f"No prior: {reason}")

    def _fill_recent(self) -> None:
        settings = self.window.settings
        self.recent.clear()
        for path in settings.recent():
            self.recent.addAction(path).triggered.connect(lambda _=False, p=path: self.window.opening.open_paths([p]))
        if self.recent.isEmpty():
            self.recent.addAction("No recent files").setEnabled(False)
        else:
            self.recent.addSeparator()
            self.recent.addAction("Clear List", settings.clear_recent)
