"""Opening studies: the file dialogs, drag and drop, listing on the IO thread, and the browser's thumbnails."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from PySide6.QtGui import QImage
from PySide6.QtWidgets import QFileDialog, QMainWindow

from viewer.app import ViewerState
from viewer.app.events import Event
from viewer.io import Instance, LoadResult, Skipped, load

from .banner import Banner
from .browser import StudyBrowser
from .decoding import Decoder
from .jobs import QtJobs
from .settings import Settings
from .thumbnails import thumbnail
from .worker import JobThread

# Most DICOM files have no extension, so the first (default) filter matches every name; the types go in its title
# and the second filter still narrows to the named extensions. A file that is no study is skipped with a reason.
IMAGE_FILTER = ("Studies: DICOM (any name), DICOMDIR, PNG, JPEG, TIFF (*);;"
                "Studies by extension (*.dcm *.dicom DICOMDIR *.png *.jpg *.jpeg *.tif *.tiff)")


class OpeningController:
    def __init__(self, window: QMainWindow, state: ViewerState, jobs: QtJobs, browser: StudyBrowser, banner: Banner,
                 settings: Settings, decoder: Decoder, report: Callable[[str], None]):
        self.window, self.state, self.jobs, self.browser, self.banner = window, state, jobs, browser, banner
        self.settings, self.decoder, self.report = settings, decoder, report
        self.loaded: Event[LoadResult] = Event("loaded")  # what was listed (the worklist adds it)
        self.thumb_thread = JobThread("thumbnails", window)  # background work that must never delay a decode
        self.thumb_thread.finished.connect(lambda _id, _kind, result: browser.set_thumbnail(*result))
        browser.thumbnailsWanted.connect(self._make_thumbnails)
        browser.openFilesRequested.connect(self.open_files_dialog)
        browser.openFolderRequested.connect(self.open_folder_dialog)

    def open_paths(self, paths: Sequence[str | Path], select_first: bool = True) -> int:
        """List the studies in `paths` (headers are read on the IO thread) and show the first image."""
        found = [Path(p) for p in paths]
        if not found:
            return 0
        self.settings.add_recent([str(p) for p in found])
        self.window.statusBar().showMessage(f"Reading {len(found)} item(s)…")
        return self.jobs.io.submit(lambda _reporter: load(found), lambda result: self._loaded(result, select_first,
                                                                                             found),
                                   self.report, kind="load")

    def open_files_dialog(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self.window, "Open studies", self._last_dir(), IMAGE_FILTER)
        if files:
            self._remember_dir(files[0])
            self.open_paths(files)

    def open_folder_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self.window, "Open folder", self._last_dir())
        if folder:
            self._remember_dir(folder + "/")
            self.open_paths([folder])

    def open_dicomdir_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.window, "Open DICOMDIR", self._last_dir(),
                                              "DICOMDIR (DICOMDIR);;All (*)")
        if path:
            self._remember_dir(path)
            self.open_paths([path])

    def _last_dir(self) -> str:
        return str(self.settings.get("file/last_dir", str(Path.home())))

    def _remember_dir(self, path: str) -> None:
        self.settings.set("file/last_dir", str(Path(path).parent))

    # -- drag and drop (the window's dragEnterEvent and dropEvent come here) ---------------------------------

    @staticmethod
    def accepts(event) -> None:
        if event.mimeData().hasUrls() and any(url.isLocalFile() for url in event.mimeData().urls()):
            event.acceptProposedAction()

    def drop(self, event) -> None:
        paths = [url.toLocalFile() for url in event.mimeData().urls() if url.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.open_paths(paths)

    # -- results ---------------------------------------------------------------------------------------------

    def _loaded(self, result: LoadResult, select_first: bool, paths: list[Path]) -> None:
        new = self.browser.add(result)
        skipped = len(result.skipped)
        if not result.studies and not new:
            reasons = "; ".join(self._skipped_line(number, s) for number, s in enumerate(result.skipped[:3], 1))
            if skipped > 3:
                reasons = f"any of {skipped} files ({reasons}; … see the skipped list on the left)"
            where = "what was opened" if self.state.anonymous else ", ".join(p.name for p in paths)
            self.report(f"Cannot open {reasons}" if reasons else f"No images found in {where}")
            return
        note = f" ({skipped} skipped, see the list on the left)" if skipped else ""
        self.window.statusBar().showMessage(f"Opened {len(new)} image(s){note}", 8000)
        if skipped:
            self.banner.show_message(f"{skipped} file(s) skipped: " + "; ".join(
                self._skipped_line(number, s) for number, s in enumerate(result.skipped[:3], 1)), "warning")
        if new and (select_first or self.state.image is None):
            self.browser.select(new[0])
        self.loaded.emit(result)

    def _skipped_line(self, number: int, skipped: Skipped) -> str:
        """A skipped file and why; under Anonymise Display without its name (file names are often patient names)."""
        return f"{'file ' + str(number) if self.state.anonymous else skipped.path.name}: {skipped.reason}"

    def _make_thumbnails(self, instances: list[Instance]) -> None:
        decoder = self.decoder

        def job(path: Path) -> Callable[[object], tuple[Path, QImage]]:
            return lambda _context: (path, thumbnail(decoder, path))

        for instance in instances:
            self.thumb_thread.submit("thumbnail", job(instance.path))
