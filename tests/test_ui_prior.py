"""Compare with Prior in the viewer (pytest-qt, offscreen): a patient with two studies found from the DICOM headers,
both images with their overlays, zoom and pan shared, a window each, the score change, no dates when anonymised."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from conftest import write_dicom  # noqa: E402
from pydicom.uid import generate_uid  # noqa: E402
from PySide6.QtCore import QEvent, QPoint, QPointF, QSettings, Qt  # noqa: E402
from PySide6.QtGui import QMouseEvent, QWheelEvent  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from viewer.assets import demo_studies, resource_path  # noqa: E402
from viewer.demo.phantom import make_phantom  # noqa: E402
from viewer.demo.studies import detector_values  # noqa: E402
from viewer.io import Instance  # noqa: E402
from viewer.ui.main_window import MainWindow  # noqa: E402
from viewer.ui.settings import Settings  # noqa: E402

DEMO_MODEL = resource_path("models", "demo_phantom_cnn.keras")
DEMO_PATIENT = "RADCAM-DEMO-0001"  # the demo studies' PatientID; their StudyDate is 20240115
CURRENT = next(path for path in demo_studies() if path.name == "demo_cr_nodule.dcm")
JOB_TIMEOUT_MS = 120_000  # the first job imports TensorFlow


def phantom_film(path: Path, lesions: list[str], size: int, **attributes) -> Path:
    """A synthetic chest film (12-bit CR values) of the demo patient, another study."""
    stored = detector_values(make_phantom(4, size, lesions).image)
    header = {"PatientID": DEMO_PATIENT, "PatientName": "DEMO^SYNTHETIC", "Modality": "CR", "ViewPosition": "PA",
              "StudyInstanceUID": generate_uid(), **attributes}
    return write_dicom(path, stored.astype(np.uint16), bits_stored=12, **header)


@pytest.fixture
def worklist(tmp_path):
    """The demo studies (2024-01-15), the same patient's film a year earlier without the nodule (512 px: another
    detector), a later film (2025) that must not be the prior, and another patient whose older film must not be."""
    return {
        "prior": phantom_film(tmp_path / "prior_2023.dcm", [], 512, StudyDate="20230115"),
        "later": phantom_film(tmp_path / "later_2025.dcm", ["nodule"], 256, StudyDate="20250115"),
        "other": phantom_film(tmp_path / "other_patient.dcm", [], 256, StudyDate="20220101", PatientID="P-OTHER",
                              PatientName="Other^Patient"),
    }


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("RADCAM_CACHE_DIR", str(tmp_path / "cache"))  # the pre-scan's cache: never the user's
    win = MainWindow(Settings(QSettings(str(tmp_path / "radcam.ini"), QSettings.Format.IniFormat)))
    win.headless = True
    qtbot.addWidget(win)
    win.resize(1400, 800)
    win.show()
    yield win
    win.shutdown()


def show(qtbot, win, path: Path) -> None:
    """Put `path` on screen and wait for its map (auto-explain is on by default)."""
    with qtbot.waitSignal(win.explanationShown, timeout=JOB_TIMEOUT_MS):
        win.imaging.select(Instance(path, 1, "dicom"), 0)


def comparing(qtbot, win, worklist) -> MainWindow:
    """The demo model, the demo studies and the fixture films open, the demo CR on screen, Compare with Prior on
    and the prior's map drawn."""
    win.load_model(DEMO_MODEL)
    win.open_paths([*demo_studies(), *worklist.values()], select_first=False)
    qtbot.waitUntil(lambda: win.review_state.session is not None and len(win.review_state.session.entries) == 6,
                    timeout=JOB_TIMEOUT_MS)
    show(qtbot, win, CURRENT)
    assert win.menus.compare_prior.isEnabled()
    win.menus.compare_prior.trigger()
    qtbot.waitUntil(lambda: win.priors.prior_explanation is not None, timeout=JOB_TIMEOUT_MS)
    qtbot.waitUntil(lambda: not win.priors._redraw_scheduled)
    return win


def scores(path: Path) -> dict[str, float]:
    from viewer.io import open_image
    from viewer.model import load_model

    rows = load_model(DEMO_MODEL).predictions(open_image(path).render())
    return {row["name"]: row["score"] for row in rows}


def pixels(view) -> np.ndarray:
    image = view.qimage().convertToFormat(view.qimage().Format.Format_RGB888)
    array = np.frombuffer(image.constBits(), np.uint8).reshape(image.height(), image.bytesPerLine())
    return array[:, : image.width() * 3].reshape(image.height(), image.width(), 3).copy()


def send(view, kind, position: QPoint, button, buttons) -> None:
    event = QMouseEvent(kind, QPointF(position), QPointF(view.viewport().mapToGlobal(position)), button, buttons,
                        Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(view.viewport(), event)


def drag(view, dx: int, dy: int, button=Qt.MouseButton.RightButton) -> None:
    """A drag on the view as the user makes it: right button window/level, left button pan."""
    start = view.viewport().rect().center()
    none = Qt.MouseButton.NoButton
    send(view, QEvent.Type.MouseButtonPress, start, button, button)
    send(view, QEvent.Type.MouseMove, start + QPoint(dx, dy), none, button)
    send(view, QEvent.Type.MouseButtonRelease, start + QPoint(dx, dy), button, none)


def wheel(view, steps: int, at: QPoint) -> None:
    event = QWheelEvent(QPointF(at), QPointF(view.viewport().mapToGlobal(at)), QPoint(), QPoint(0, 120 * steps),
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(view.viewport(), event)


def image_point_at_centre(view) -> tuple[float, float]:
    """The point at the view's centre as a share of the image's width and height."""
    centre = view.centre()
    width, height = view.image_size()
    return centre.x() / width, centre.y() / height


def test_the_prior_layout_shows_both_films_with_their_maps_and_the_score_change(qtbot, window, worklist):
    win = comparing(qtbot, window, worklist)
    priors, view = win.priors, win.prior_view
    assert Path(priors.prior.path) == worklist["prior"]  # found from the headers: not the 2025 film, not P-OTHER
    assert view.isVisible() and not win.views["overlay"].isVisible()
    assert view.current.image_size() == (1024, 1024) and view.prior.image_size() == (512, 512)
    # each side is its overlay, drawn with the same method, layer and target (the top label, nodule): the current
    # film's map in colour on the grey film; the prior has no nodule, and the demo model (trained to keep an absent
    # class's evidence below zero in every cell, issue 17) gives it an empty map, so that side stays grey
    current_side, prior_side = (pixels(side).astype(int) for side in view.views())
    assert np.abs(current_side[..., 0] - current_side[..., 2]).max() > 60
    assert priors.prior_explanation.result.cam.max() == 0.0
    assert np.abs(prior_side[..., 0] - prior_side[..., 2]).max() < 8
    shown, prior = win.state.explanation, priors.prior_explanation
    assert (prior.key.method, prior.key.layer, prior.key.target) == (
        shown.key.method, shown.key.layer, shown.result.target.index)
    assert prior.result.target.name == shown.result.target.name
    assert view.current.title == "Current · 2024-01-15"
    assert view.prior.title == "Prior · 2023-01-15 (365 days earlier)"
    # the score change, prior → current, checked against the demo model run on each file by itself
    now, before = scores(CURRENT), scores(worklist["prior"])
    assert now["nodule"] > before["nodule"]  # the nodule is new: the model says so
    text = view.changes.text()
    for label in ("nodule", "consolidation"):
        old, new = round(before[label], 2), round(now[label], 2)
        assert f"{label.capitalize()} {old:.2f} → {new:.2f} ({new - old:+.2f})" in text, text
    # off again: the normal layout
    win.menus.compare_prior.trigger()
    assert not view.isVisible() and win.views["overlay"].isVisible()
    assert not win.menus.compare_prior.isChecked()


def test_zoom_and_pan_follow_between_the_two_and_each_keeps_its_own_window(qtbot, window, worklist):
    win = comparing(qtbot, window, worklist)
    current, prior = win.prior_view.views()
    # the wheel over one point of the current film zooms and moves both to the same part of each film
    fitted = current.zoom
    wheel(current, 3, current.viewport().rect().center() + QPoint(120, -80))
    assert current.zoom == pytest.approx(fitted * 1.25 ** 3, rel=1e-3)
    assert current.zoom * 1024 == pytest.approx(prior.zoom * 512, rel=1e-3)  # the same share of each film
    assert image_point_at_centre(prior) == pytest.approx(image_point_at_centre(current), abs=0.01)
    # and the keyboard's zoom (the View menu's +) acts on the pair, led by the prior this time
    prior.activated.emit()
    before = current.zoom
    next(a for _menu, a in win.menus.all_actions() if a.text() == "Zoom &In").trigger()
    assert current.zoom == pytest.approx(before * 1.25, rel=1e-3)
    assert image_point_at_centre(prior) == pytest.approx(image_point_at_centre(current), abs=0.01)
    # a pan (left drag) on the prior moves the current film with it
    before = image_point_at_centre(current)
    drag(prior, 60, 40, Qt.MouseButton.LeftButton)
    assert image_point_at_centre(current) != pytest.approx(before, abs=0.01)
    assert image_point_at_centre(current) == pytest.approx(image_point_at_centre(prior), abs=0.01)

    # window/level: a drag on the prior changes the prior's window only
    state_window, prior_window, current_pixels = win.state.window, win.priors.prior_window, pixels(current)
    drag(prior, 40, 30)
    qtbot.waitUntil(lambda: not win.priors._redraw_scheduled)
    assert win.priors.prior_window != prior_window and win.state.window == state_window
    assert np.array_equal(pixels(current), current_pixels)
    # ... and a drag on the current film changes its window (the viewer's) only
    prior_window, prior_pixels = win.priors.prior_window, pixels(prior)
    drag(current, -40, 20)
    qtbot.waitUntil(lambda: win.state.window != state_window and not win.priors._redraw_scheduled)
    assert win.priors.prior_window == prior_window
    assert np.array_equal(pixels(prior), prior_pixels)
    assert win.prior_view.current.corner_text["bottom_left"] != win.prior_view.prior.corner_text["bottom_left"]
    # R resets both: each film's own default window, both fitted
    next(a for _menu, a in win.menus.all_actions() if a.text() == "&Reset View and Window").trigger()
    assert win.priors.prior_window == win.priors.prior_image.default_window
    assert win.state.window == win.state.image.default_window
    assert current.fit_mode and prior.fit_mode


def test_no_dates_under_anonymisation_and_no_layout_without_a_prior(qtbot, window, worklist):
    win = comparing(qtbot, window, worklist)
    view = win.prior_view
    win.menus.anonymous.trigger()
    assert (view.current.title, view.prior.title) == ("Current", "Prior (365 days earlier)")
    shown = " ".join([view.current.title, view.prior.title, view.changes.text(),
                      *(line for side in view.views() for lines in side.corner_text.values() for line in lines)])
    for date in ("2023", "2024", "01-15", "0115"):
        assert date not in shown, shown
    win.menus.anonymous.trigger()

    # another patient's film has no prior: the layout goes off, says why, and the command is greyed out
    show(qtbot, win, worklist["other"])
    assert not view.isVisible() and win.views["overlay"].isVisible()
    assert not win.menus.compare_prior.isChecked() and not win.menus.compare_prior.isEnabled()
    assert "no earlier study of this patient" in win.menus.compare_prior.statusTip()
    assert "no earlier study of this patient" in win.statusBar().currentMessage()
    win.priors.show(True)  # asked for anyway (a script): refused the same way
    assert not view.isVisible() and not win.menus.compare_prior.isChecked()
    # the 2025 film's prior is the 2024 demo study, the most recent earlier one
    show(qtbot, win, worklist["later"])
    assert win.menus.compare_prior.isEnabled()
    assert Path(win.priors.prior.path).name.startswith("demo_cr_")


def test_without_maps_the_score_change_comes_from_the_pre_scan(qtbot, window, worklist):
    """Auto-explain off: no map on either side, but the worklist's pre-scan scores give the change at once."""
    win = window
    win.controls.auto_explain.setChecked(False)
    win.load_model(DEMO_MODEL)
    win.open_paths([CURRENT, worklist["prior"]], select_first=False)
    qtbot.waitUntil(lambda: win.review_state.session is not None and all(
        entry.predictions for entry in win.review_state.session.entries), timeout=JOB_TIMEOUT_MS)
    win.imaging.select(Instance(CURRENT, 1, "dicom"), 0)
    qtbot.waitUntil(lambda: win.state.image is not None and win.menus.compare_prior.isEnabled())
    win.menus.compare_prior.trigger()
    qtbot.waitUntil(lambda: win.prior_view.prior.has_image(), timeout=JOB_TIMEOUT_MS)
    assert win.state.explanation is None and win.priors.prior_explanation is None
    now, before = scores(CURRENT), scores(worklist["prior"])
    old, new = round(before["nodule"], 2), round(now["nodule"], 2)
    assert f"Nodule {old:.2f} → {new:.2f} ({new - old:+.2f})" in win.prior_view.changes.text()
