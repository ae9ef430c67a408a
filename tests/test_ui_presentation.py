"""The viewer drawing a GSPS opened with its image over the Original view: the drawn pixels land where the
presentation state's coordinates say (an image wider than tall: a transposed or flipped overlay fails), its window
becomes the reader's, View → Presentation State turns it off and on, a damaged one is one message, a lone one is
reported."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import main_window
from gsps_files import COLUMNS, ROWS, radcam_gsps, vendor_gsps, write_image

from viewer.io import load

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def scene_pixels(view) -> np.ndarray:
    """The view's scene over the image's own rectangle, one scene unit to one pixel: (ROWS, COLUMNS, 3) RGB, so
    pixel (y, x) is what is drawn over image pixel (x, y)."""
    from PySide6.QtCore import QRectF
    from PySide6.QtGui import QImage, QPainter

    image = QImage(COLUMNS, ROWS, QImage.Format.Format_RGB888)
    painter = QPainter(image)
    rect = QRectF(0, 0, COLUMNS, ROWS)
    view.scene().render(painter, rect, rect)
    painter.end()
    ptr = image.constBits()
    return np.frombuffer(ptr, np.uint8).reshape(ROWS, image.bytesPerLine())[:, :COLUMNS * 3].reshape(
        ROWS, COLUMNS, 3).copy()


def yellow(rgb) -> bool:
    return rgb[0] > 180 and rgb[1] > 150 and rgb[2] < 100


def red(rgb) -> bool:
    return rgb[0] > 180 and rgb[1] < 100 and rgb[2] < 100


def near(pixels, x, y, test, reach=1) -> bool:
    """Whether `test` holds for a pixel within `reach` of image pixel (x, y): a 2 px line on a pixel edge."""
    block = pixels[max(0, y - reach):y + reach + 1, max(0, x - reach):x + reach + 1].reshape(-1, 3)
    return any(test(rgb) for rgb in block)


def shown(qtbot, win, folder):
    win.open_paths([str(folder)])
    qtbot.waitUntil(lambda: win.state.image is not None and win.views["original"].has_image(), timeout=30_000)
    qtbot.waitUntil(lambda: win.presentation.shown is not None, timeout=10_000)
    qtbot.wait(50)  # the window's redraw runs on the next pass of the event loop
    return win


def test_radcam_gsps_drawn_where_its_contour_says_with_its_window(qtbot, tmp_path):
    image = write_image(tmp_path / "study")
    radcam_gsps(image, tmp_path / "study" / "image_gsps.dcm")
    with main_window(qtbot, tmp_path) as win:
        shown(qtbot, win, tmp_path / "study")
        state = win.state
        assert (state.window.center, state.window.width) == (300.0, 200.0)  # the GSPS's, not the file's 2048/4096
        assert win.menus.presentation.isEnabled() and win.menus.presentation.isChecked()
        pixels = scene_pixels(win.views["original"])
        # the rectangle's edges: top y=20 and bottom y=40 from x=10 to 50, left x=10 and right x=50
        for x, y in [(30, 20), (30, 40), (10, 30), (50, 30), (20, 20), (45, 40)]:
            assert near(pixels, x, y, yellow), (x, y)
        # transposed (x, y) -> (y, x), flipped up-down (y -> ROWS - y) or left-right: nothing there
        for x, y in [(20, 30), (40, 30), (30, ROWS - 20), (COLUMNS - 30, 20), (30, 30)]:
            assert not near(pixels, x, y, yellow), (x, y)
        assert pixels[60, 90].tolist() == [255, 255, 255]  # 400 under the GSPS's window 300/200: white

        win.menus.presentation.trigger()  # off: nothing drawn, the file's own window back
        assert not win.presentation.items and not win.menus.presentation.isChecked()
        assert state.window == state.image.default_window
        qtbot.wait(50)
        assert not near(scene_pixels(win.views["original"]), 30, 20, yellow)
        win.menus.presentation.trigger()  # on again
        assert win.presentation.items and (state.window.center, state.window.width) == (300.0, 200.0)
        win.imaging.reset_view()  # R: the file's window; the same frame shown again gets the GSPS's once more
        assert state.window == state.image.default_window
        before = state.image
        (instance,) = [i for study in load([image]).studies for s in study.series for i in s.instances]
        win.imaging.select(instance, 0)
        qtbot.waitUntil(lambda: state.image is not before, timeout=30_000)
        assert (state.window.center, state.window.width) == (300.0, 200.0) and win.presentation.items


def test_vendor_gsps_every_graphic_type_and_display_units(qtbot, tmp_path):
    image = write_image(tmp_path / "study")
    vendor_gsps(image, tmp_path / "study" / "vendor.dcm")
    with main_window(qtbot, tmp_path) as win:
        shown(qtbot, win, tmp_path / "study")
        assert (win.state.window.center, win.state.window.width) == (500.0, 100.0)
        pixels = scene_pixels(win.views["original"])
        assert near(pixels, 80, 30, red) and near(pixels, 70, 20, red)  # the circle: centre (70, 30), radius 10
        assert not near(pixels, 70, 30, red)  # not filled
        # the ellipse in DISPLAY units over the right half: its ends at (60, 32), (84, 32), (72, 16), (72, 48)
        for x, y in [(60, 32), (84, 32), (72, 16), (72, 48)]:
            assert near(pixels, x, y, red), (x, y)
        assert near(pixels, 72, 51, red)  # the interpolated curve passes through (72, 51.2)
        assert near(pixels, 5, 5, red, reach=2)  # the point's cross
        assert not near(pixels, 32, 60, red)  # the ellipse, transposed
        labels = {item.text(): top for top in win.presentation.items for item in top.childItems()
                  if hasattr(item, "text")}
        assert sorted(labels) == ["anchored", "vendor note"]
        # CENTER-justified in its box (x 72..96, y 0..6.4): standing on the box's lower edge, centred on x = 84
        note = labels["vendor note"]
        assert (note.pos().x(), note.pos().y()) == pytest.approx((84.0, 6.4))
        assert note.rect().center().x() == pytest.approx(0.0) and note.rect().bottom() == pytest.approx(0.0)
        anchored = labels["anchored"]  # beside its anchor (2, 62): its lower left corner there
        assert (anchored.pos().x(), anchored.pos().y()) == (2.0, 62.0) and anchored.rect().left() == 0.0


def test_a_damaged_gsps_is_one_message_and_the_rest_is_drawn(qtbot, tmp_path):
    image = write_image(tmp_path / "study")
    path = tmp_path / "study" / "vendor.dcm"
    ds = vendor_gsps(image, path)
    ds.GraphicAnnotationSequence[0].GraphicObjectSequence[0].GraphicData = [70.0, 30.0, 80.0]
    ds.GraphicAnnotationSequence[0].GraphicObjectSequence[1].GraphicType = "SPLINE"
    ds.save_as(path, enforce_file_format=True)
    messages = []
    with main_window(qtbot, tmp_path) as win:
        win.errorReported.connect(messages.append)
        shown(qtbot, win, tmp_path / "study")
        about = [m for m in messages if "presentation state" in m]  # not the one saying no model is loaded
        assert len(about) == 1 and "VENDOR" in about[0] and "\n" not in about[0]
        pixels = scene_pixels(win.views["original"])
        assert near(pixels, 60, 32, red)  # the ellipse is still drawn
        assert not near(pixels, 80, 30, red)  # the damaged circle is not


def test_gsps_without_its_image_is_reported_and_nothing_breaks(qtbot, tmp_path):
    image = write_image(tmp_path / "study")
    alone = tmp_path / "alone"
    alone.mkdir()
    radcam_gsps(image, alone / "gsps.dcm")
    with main_window(qtbot, tmp_path) as win:
        with qtbot.waitSignal(win.errorReported, timeout=10_000,
                              check_params_cb=lambda message: "not opened with it" in message):
            win.open_paths([str(alone)])
        assert win.state.image is None and not win.menus.presentation.isEnabled()
        # the image opened afterwards, on its own: no presentation state to draw
        win.open_paths([str(image)])
        qtbot.waitUntil(lambda: win.state.image is not None, timeout=30_000)
        assert win.presentation.shown is None and not win.presentation.items
        assert win.state.window == win.state.image.default_window


def test_the_gsps_applies_only_to_its_own_image(qtbot, tmp_path):
    image = write_image(tmp_path / "study")
    other = write_image(tmp_path / "study", "other.dcm", value=100)
    radcam_gsps(image, tmp_path / "study" / "image_gsps.dcm")
    with main_window(qtbot, tmp_path) as win:
        shown(qtbot, win, tmp_path / "study")
        (instance,) = [i for study in load([other]).studies for s in study.series for i in s.instances]
        win.imaging.select(instance, 0)
        qtbot.waitUntil(lambda: win.state.image is not None and win.state.image.path == other, timeout=30_000)
        assert win.presentation.shown is None and not win.presentation.items
        assert not win.menus.presentation.isEnabled()


def test_a_long_caption_wraps_at_spaces(qtbot):
    from PySide6.QtGui import QFont, QFontMetricsF

    from viewer.ui.presentation_layer import wrapped

    metrics = QFontMetricsF(QFont())
    text = "nodule 0.998 · Grad-CAM · model demo_phantom_cnn · NOT FOR DIAGNOSIS"
    lines = wrapped(text, metrics, 200)
    assert len(lines) > 1 and " ".join(lines) == text
    assert all(metrics.horizontalAdvance(line) <= 200 for line in lines)
    assert wrapped("one\ntwo", metrics, 200) == ["one", "two"]
    assert wrapped("averyveryverylongwordwithoutspaces", metrics, 10) == ["averyveryverylongwordwithoutspaces"]


def test_its_flip_and_rotation_turn_the_view(qtbot, tmp_path):
    from viewer.app.orientation import Orientation

    image = write_image(tmp_path / "study")
    path = tmp_path / "study" / "vendor.dcm"
    ds = vendor_gsps(image, path)
    ds.ImageHorizontalFlip, ds.ImageRotation = "Y", 90
    ds.save_as(path, enforce_file_format=True)
    with main_window(qtbot, tmp_path) as win:
        shown(qtbot, win, tmp_path / "study")
        assert win.state.orientation == Orientation().rotated().flipped_h()  # the turn first, then the flip
        win.menus.presentation.trigger()
        assert win.state.orientation == Orientation()
        win.menus.presentation.trigger()
        assert win.state.orientation == Orientation().rotated().flipped_h()


@pytest.mark.parametrize(("photometric", "shape", "inverted"), [
    ("MONOCHROME2", "INVERSE", True),  # the author saw it as a negative: so does the reader
    ("MONOCHROME2", "IDENTITY", False),
    ("MONOCHROME1", "INVERSE", True),  # RadCAM's own for a CR film: the film as it always looks, low values white
    ("MONOCHROME1", "IDENTITY", False),  # a presentation state ignores Photometric Interpretation: low is black
])
def test_its_presentation_lut_shape_sets_the_grey_scale(qtbot, tmp_path, photometric, shape, inverted):
    """PS3.3 C.11.6: the Presentation LUT Shape says which way the grey scale runs, whatever the original's
    Photometric Interpretation; it is applied as the reader's inversion while shown, and taken back when off."""
    from pydicom import dcmread

    image = write_image(tmp_path / "study")
    ds = dcmread(image)
    ds.PhotometricInterpretation = photometric
    ds.save_as(image)
    path = tmp_path / "study" / "image_gsps.dcm"
    radcam_gsps(image, path)
    gsps = dcmread(path)
    gsps.PresentationLUTShape = shape
    gsps.save_as(path)
    with main_window(qtbot, tmp_path) as win:
        shown(qtbot, win, tmp_path / "study")
        state = win.state
        assert (state.image.invert != state.inverted) is inverted  # inverted: low values shown white
        win.menus.presentation.trigger()  # off: the file's own grey scale
        assert state.inverted is False
        win.menus.presentation.trigger()
        assert (state.image.invert != state.inverted) is inverted


def test_a_caption_wraps_to_its_box_on_screen_and_again_when_zoomed(qtbot, tmp_path):
    """A caption keeps to its text box's width on screen (at least a few words a line, at most 300 px): wrapped at
    a fixed 300 px it ran past the image's right edge for a finding near it, far wider than the author's box."""
    from PySide6.QtWidgets import QGraphicsRectItem

    from viewer.ui.presentation_layer import MIN_TEXT_WIDTH_PX, TEXT_WIDTH_PX

    image = write_image(tmp_path / "study")
    radcam_gsps(image, tmp_path / "study" / "image_gsps.dcm")
    with main_window(qtbot, tmp_path) as win:
        shown(qtbot, win, tmp_path / "study")
        view, layer = win.views["original"], win.presentation
        (label,) = [item for item in layer.items if isinstance(item, QGraphicsRectItem)]
        x0, _, x1, _ = layer.shown.drawing(str(win.state.image.metadata["sop_instance_uid"]), 0,
                                           (COLUMNS, ROWS)).labels[0].box
        for factor in (1.0, 0.5, 4.0):
            view.zoom_by(factor)
            qtbot.wait(20)
            (label,) = [item for item in layer.items if isinstance(item, QGraphicsRectItem)]
            wrap = min(max(abs(x1 - x0) * view.zoom, MIN_TEXT_WIDTH_PX), TEXT_WIDTH_PX)
            lines = [child.text() for child in label.childItems()]
            assert label.rect().width() <= wrap + 8 + 1, (factor, view.zoom, lines)
            assert " ".join(lines).startswith("nodule 0.968")
