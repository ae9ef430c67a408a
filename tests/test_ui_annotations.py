"""Issue 16 part 3: corner text that reads on any image and never covers the fitted image, long names elided, the
zoom figure always current, and the overlay's contour a vector path whose width is constant in screen pixels."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from conftest import FIXTURES, needs_fixtures, opened, write_dicom  # noqa: E402
from PySide6.QtCore import QPointF, QRectF  # noqa: E402
from PySide6.QtGui import QImage  # noqa: E402

from viewer.ui import view_painting  # noqa: E402
from viewer.ui.views import ImageView  # noqa: E402

MODEL = FIXTURES / "models" / "am1codes_pneumonia_150.h5"
CHEST_PNG = FIXTURES / "images" / "nih_00000001_000_cardiomegaly.png"
LONG_NAME = "Vandenberghe-Oppenheimer-Castellanos^Maximiliana Theodora Konstantina"


def grab(view: ImageView) -> np.ndarray:
    """The viewport as it is on screen: uint8 (H, W, 3) RGB."""
    image = view.viewport().grab().toImage().convertToFormat(QImage.Format.Format_RGB888)
    array = np.frombuffer(image.constBits(), np.uint8).reshape(image.height(), image.bytesPerLine())
    return array[:, : image.width() * 3].reshape(image.height(), image.width(), 3).copy()


def image_rect(view: ImageView):
    width, height = view.image_size()
    return view.mapFromScene(QRectF(0, 0, width, height)).boundingRect()


@pytest.fixture
def window(exposed_window):
    return exposed_window


def zoom_shown(view: ImageView) -> str:
    return next(line for line in view.corner_text["bottom_right"] if line.startswith("Zoom"))


def test_the_zoom_figure_is_current_after_fit_actual_size_layouts_and_resizes(qtbot, window, tmp_path):
    pixels = np.tile(np.arange(1500, dtype=np.uint16) % 4096, (1200, 1))
    opened(qtbot, window, write_dicom(tmp_path / "a.dcm", pixels, bits_stored=12))
    window.activateWindow()

    def current():
        for name in ("original", "overlay"):
            view = window.views[name]
            if view.isVisible():
                assert zoom_shown(view) == f"Zoom {round(view.zoom * 100)} %", name

    views = window.views
    current()
    for keys in ("+", "Ctrl+1", "F", "Alt+1", "Ctrl+1", "Alt+3", "F", "Alt+4", "Alt+5", "Alt+2"):
        action = next(a for _menu, a in window.menus.all_actions() if keys in [s.toString() for s in a.shortcuts()])
        action.trigger()
        qtbot.wait(30)  # the layout's resize events
        current()
    assert zoom_shown(views["overlay"]) != "Zoom 100 %"  # Alt+2 after 1:1 and F: fitted, not stale at 1:1
    window.resize(900, 600)
    qtbot.wait(30)
    current()


def test_corner_text_never_covers_the_fitted_image_and_long_names_are_elided(qtbot, window, tmp_path):
    for shape in ((1400, 1000), (600, 1800), (1000, 1000)):
        path = write_dicom(tmp_path / f"{shape[0]}.dcm", np.full(shape, 3000, np.uint16), bits_stored=12,
                           PatientName=LONG_NAME, Modality="DX", ViewPosition="PA", BodyPartExamined="CHEST")
        opened(qtbot, window, path)
        for key in (1, 3, 4, 5):
            window.set_layout(key)
            qtbot.wait(30)
            for name, view in window.views.items():
                if not view.isVisible() or not view.has_image():
                    continue
                assert view.fit_mode
                picture = image_rect(view)
                for block in view_painting.blocks(view):
                    assert not block.rect.intersects(picture), (shape, key, name, block.lines)
                    assert block.rect.right() < view.viewport().width()
                    metrics = view.fontMetrics()
                    assert all(metrics.horizontalAdvance(line) <= view.viewport().width() for line in block.lines)
    original = window.views["original"]
    shown = [line for block in view_painting.blocks(original) for line in block.lines]
    assert any(line.endswith("…") for line in shown)  # the patient's long name, elided
    window.set_layout(1)  # the overlay alone says whose image it is
    assert any(line.startswith("Vandenberghe") and line.endswith("…")
               for block in view_painting.blocks(window.views["overlay"]) for line in block.lines)


@pytest.mark.parametrize("grey", [255, 0])
def test_corner_text_reads_on_white_and_on_black(qtbot, grey):
    view = ImageView("Original", windowing=True)
    qtbot.addWidget(view)
    view.resize(500, 500)
    view.show()
    qtbot.waitExposed(view)
    view.set_pixels(np.full((900, 900), grey, np.uint8))  # larger than the view: all of it is image at 1:1
    view.actual_size()  # the image under the text too: the text must read on it, not only in the fit margins
    view.set_corner_text({"top_left": ["Doe, Jane", "ID 12345"], "bottom_right": ["400×400", "Zoom 100 %"]})
    qtbot.wait(20)
    screen = grab(view).astype(int).sum(axis=2) / 3
    for block in view_painting.blocks(view)[1:]:
        r = block.rect
        region = screen[r.top(): r.bottom() + 1, r.left(): r.right() + 1]
        bright, dark = (region > 225).mean(), (region < 80).mean()
        # Light glyphs and a dark halo/backing around them, whatever the image beneath.
        assert bright > 0.03 and dark > 0.25, (grey, block.lines, bright, dark)


def line_width(screen: np.ndarray) -> float:
    """The contour's width in screen pixels: for each yellow pixel the shorter of its horizontal and vertical
    run of yellow, the median over all."""
    red, green, blue = (screen[..., i].astype(int) for i in range(3))
    yellow = (red > 180) & (green > 180) & (blue < 90)
    assert yellow.sum() > 20, "no contour on screen"
    runs = []
    for mask in (yellow, yellow.T):
        lengths = np.zeros(mask.shape, int)
        for index, row in enumerate(mask):
            edges = np.flatnonzero(np.diff(np.concatenate(([0], row.astype(int), [0]))))
            for start, stop in zip(edges[::2], edges[1::2], strict=True):
                lengths[index, start:stop] = stop - start
        runs.append(lengths)
    shortest = np.minimum(runs[0], runs[1].T)[yellow]
    return float(np.median(shortest))


@needs_fixtures
def test_the_contour_is_as_wide_on_screen_at_50_and_at_400_percent(qtbot, window):
    window.controls.opacity.setValue(0)  # a grey image under a yellow line: nothing else is yellow
    window.controls.contour.setChecked(True)
    with qtbot.waitSignal(window.explanationShown, timeout=120_000):
        window.load_model(MODEL)
        window.open_paths([CHEST_PNG])
    window.set_layout(1)
    qtbot.wait(30)
    view = window.views["overlay"]
    # An edge of the thresholded region, in image pixels, to centre the 400 % view on.
    from viewer.render.contours import contour_polygons

    x, y = contour_polygons(window.state.explanation.result.cam, window.state.style.threshold)[0][0]
    edge = QPointF(float(x), float(y))
    widths = {}
    for zoom, centre in ((0.5, QPointF(512, 512)), (4.0, edge)):
        view.apply_state((zoom, centre, False))
        qtbot.wait(20)
        widths[zoom] = line_width(grab(view))
    print('contour width in screen pixels', widths)
    assert abs(widths[0.5] - widths[4.0]) <= 1 and widths[4.0] <= 3, widths
    assert not view.contour.path().isEmpty()
    # The overlay's pixels hold no burned-in contour: the line is the view's only one.
    overlay = view.qimage().convertToFormat(QImage.Format.Format_RGB888)
    array = np.frombuffer(overlay.constBits(), np.uint8).reshape(overlay.height(), overlay.bytesPerLine())
    array = array[:, : overlay.width() * 3].reshape(overlay.height(), overlay.width(), 3)
    assert not ((array[..., 0] > 180) & (array[..., 1] > 180) & (array[..., 2] < 90)).any()
    window.controls.contour.setChecked(False)
    assert view.contour.path().isEmpty()
