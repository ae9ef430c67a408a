"""All findings in the viewer (issue 16, part 1): G draws every finding above its decision threshold on the
overlay panel, sliders redraw it without the model, the single-finding overlay is unchanged, and export writes
what is on screen."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from conftest import main_window  # noqa: E402
from PIL import Image  # noqa: E402
from PySide6.QtCore import QPoint, QRectF  # noqa: E402

from viewer.assets import resource_path  # noqa: E402
from viewer.model import default_model_path  # noqa: E402
from viewer.render.findings import finding_colour  # noqa: E402
from viewer.ui.export_dialog import ExportOptions  # noqa: E402

STUDY = resource_path("demo", "demo_cr_nodule.dcm")
TIMEOUT_MS = 120_000


def pixels(view) -> np.ndarray:
    image = view.qimage().convertToFormat(view.qimage().Format.Format_RGB888)
    array = np.frombuffer(image.constBits(), np.uint8).reshape(image.height(), image.bytesPerLine())
    return array[:, : image.width() * 3].reshape(image.height(), image.width(), 3).copy()


def has_colour(image: np.ndarray, rank: int) -> bool:
    return bool((image == np.array(finding_colour(rank), np.uint8)).all(axis=2).sum() > 20)


def on_screen(view) -> np.ndarray:
    """What the view shows: its pixels and the items drawn over them (outlines, labels, legend)."""
    image = view.viewport().grab().toImage().convertToFormat(view.qimage().Format.Format_RGB888)
    array = np.frombuffer(image.constBits(), np.uint8).reshape(image.height(), image.bytesPerLine())
    return array[:, : image.width() * 3].reshape(image.height(), image.width(), 3).copy()


@pytest.fixture
def window(qtbot, tmp_path):
    with main_window(qtbot, tmp_path) as win:
        with qtbot.waitSignal(win.explanationShown, timeout=TIMEOUT_MS):
            win.load_model(default_model_path())
            win.open_paths([STUDY])
        qtbot.waitUntil(lambda: not win.model_thread.busy(), timeout=TIMEOUT_MS)
        yield win


def test_g_draws_every_finding_and_off_restores_the_single_map(qtbot, window):
    state, overlay = window.state, window.views["overlay"]
    single, single_screen = pixels(overlay), on_screen(overlay)
    action = window.menus.all_findings
    assert action.isCheckable() and [s.toString() for s in action.shortcuts()] == ["G"]
    action.trigger()
    assert state.all_findings and action.isChecked()
    qtbot.waitUntil(lambda: state.findings is not None, timeout=TIMEOUT_MS)
    found = state.findings.findings
    assert [f.target.name for f in found.findings] == ["nodule", "consolidation"]  # both above 0.5, highest first
    assert found.shared_pass  # Grad-CAM: one batched pass
    np.testing.assert_array_equal(pixels(overlay)[:, :, 0], state.base)  # the original, outlined by screen items
    assert not overlay.contour.isVisible()  # the one map's own outline steps aside
    every = on_screen(overlay)
    assert has_colour(every, 0) and has_colour(every, 1)
    assert not has_colour(single_screen, 0) and not has_colour(single_screen, 1)
    action.trigger()
    assert not state.all_findings and overlay.contour.isVisible()
    np.testing.assert_array_equal(pixels(overlay), single)
    assert not has_colour(on_screen(overlay), 1)


def test_outlines_keep_their_screen_width_and_follow_the_cam_threshold(qtbot, window):
    overlay = window.views["overlay"]
    window.menus.all_findings.trigger()
    qtbot.waitUntil(lambda: window.state.findings is not None, timeout=TIMEOUT_MS)
    layer = window.explaining.findings.layer
    paths = [item for item in layer.items if hasattr(item, "path")]
    assert paths and all(item.pen().isCosmetic() for item in paths)
    before, shown = [item.path() for item in paths], window.state.findings
    window.controls.nudge(threshold=20)  # redrawn at once, on this thread
    after = [item.path() for item in layer.items if hasattr(item, "path")]
    assert after != before and has_colour(on_screen(overlay), 0)
    assert not window.model_thread.busy() and window.state.findings is shown  # no new maps asked for


def test_export_writes_the_all_findings_overlay(qtbot, window, tmp_path):
    window.menus.all_findings.trigger()
    qtbot.waitUntil(lambda: window.state.findings is not None, timeout=TIMEOUT_MS)
    out = tmp_path / "out"
    out.mkdir()
    options = ExportOptions(panels=["overlay", "side_by_side"], format="png", folder=out)
    with qtbot.waitSignal(window.io_thread.finished, timeout=TIMEOUT_MS):
        window.exporting.export(options)
    overlay = np.asarray(Image.open(out / "demo_cr_nodule_overlay.png").convert("RGB"))
    panels = np.asarray(Image.open(out / "demo_cr_nodule_panels.png").convert("RGB"))
    for image in (overlay, panels):
        assert has_colour(image, 0) and has_colour(image, 1)
    from viewer.app.findings import caption

    text = caption(window.state)  # what the overlay's caption bar says: the findings, not one target
    found = window.state.findings.findings.findings  # both lesions found, the best score first, each with its own score
    assert [f.target.name for f in found] == ["nodule", "consolidation"]
    scores = ", ".join(f"{f.target.name} {f.score:.3f}" for f in found)
    assert text.startswith(f"All findings ({scores}) · Grad-CAM · model demo_phantom_cnn")
    assert overlay.shape[0] > 1024  # the caption and NOT FOR DIAGNOSIS bars below the 1024² film


def test_labels_do_not_overlap_at_any_zoom(qtbot, window):
    overlay = window.views["overlay"]
    window.menus.all_findings.trigger()
    qtbot.waitUntil(lambda: window.state.findings is not None, timeout=TIMEOUT_MS)
    layer = window.explaining.findings.layer
    assert len(layer.labels) == 2  # the two outlines start at nearly the same corner on this study
    for zoom in (0.5, 0.5, 8.0):  # out, further out, then in past fit
        overlay.zoom_by(zoom)
        rects = [overlay.mapFromScene(backing.pos()) for backing, _ in layer.labels]
        heights = [backing.rect().height() for backing, _ in layer.labels]
        assert abs(rects[0].y() - rects[1].y()) >= min(heights) - 1 or abs(rects[0].x() - rects[1].x()) > 200


def test_labels_do_not_overlap_after_a_turn(qtbot, window):
    overlay, state = window.views["overlay"], window.state
    window.menus.all_findings.trigger()
    qtbot.waitUntil(lambda: state.findings is not None, timeout=TIMEOUT_MS)
    layer = window.explaining.findings.layer
    window.tools.change(state.orientation.rotated())

    def apart() -> bool:
        (a, _), (b, _) = layer.labels
        corners = [(overlay.mapFromScene(x.pos()), x.rect()) for x in (a, b)]
        boxes = [QRectF(at.x(), at.y() + r.y(), r.width(), r.height()) for at, r in corners]
        return not boxes[0].intersects(boxes[1])

    qtbot.waitUntil(apart, timeout=2000)  # moved down the image, i.e. sideways on the turned screen, they overlapped


def test_the_legend_stays_at_the_panels_lower_left_through_turns_and_flips(qtbot, window):
    overlay, state = window.views["overlay"], window.state
    window.menus.all_findings.trigger()
    qtbot.waitUntil(lambda: state.findings is not None, timeout=TIMEOUT_MS)
    legend = window.explaining.findings.layer.legend
    width, height = overlay.image_size()
    for change in (lambda o: o.rotated(), lambda o: o.flipped_h(), lambda o: o.rotated(False), lambda o: o.flipped_v()):
        window.tools.change(change(state.orientation))
        corners = [overlay.mapFromScene(x, y) for x in (0, width) for y in (0, height)]
        left, bottom = min(c.x() for c in corners), max(c.y() for c in corners)

        def at_lower_left(left=left, bottom=bottom) -> bool:
            at = overlay.mapFromScene(legend.pos())
            return abs(at.x() - left) <= 1 and abs(at.y() - bottom) <= 1

        qtbot.waitUntil(at_lower_left, timeout=2000)  # it was left at the file's (0, height): off the panel's edge
        assert overlay.viewport().rect().contains(overlay.mapFromScene(legend.pos()) + QPoint(2, -2))


def test_a_method_without_the_shared_pass_runs_once_per_finding(qtbot, window):
    state = window.state
    with qtbot.waitSignal(window.explanationShown, timeout=TIMEOUT_MS):
        window.controls.set_method("eigencam")  # auto-explain on: a new map
    window.menus.all_findings.trigger()
    qtbot.waitUntil(lambda: state.findings is not None and state.findings.key.method == "eigencam",
                    timeout=TIMEOUT_MS)
    found = state.findings.findings
    assert not found.shared_pass and [f.target.name for f in found.findings] == ["nodule", "consolidation"]
    assert has_colour(on_screen(window.views["overlay"]), 0)
