"""viewer.render: colour maps, heatmap, thresholded overlay with contours, panel composer (values, not looks)."""

import cv2
import numpy as np
import pytest

from viewer.errors import RadcamError
from viewer.render import COLORMAPS, OverlayRenderer, RenderError, colormap_lut, compose_panels, heatmap, overlay
from viewer.render.colormaps import cam_indices
from viewer.render.panels import ascii_text


def _gradient_cam(h=64, w=80):
    return np.tile(np.linspace(0, 1, w, dtype=np.float32), (h, 1))


def _disc_cam(h=200, w=240, radius=50):
    yy, xx = np.mgrid[:h, :w]
    return np.where((yy - h // 2) ** 2 + (xx - w // 2) ** 2 <= radius ** 2, 0.9, 0.1).astype(np.float32)


def _base(h, w, seed=1):
    return np.random.default_rng(seed).integers(0, 256, (h, w), dtype=np.uint8)


# colour maps ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", COLORMAPS)
def test_every_lut_is_256_rgb_uint8(name):
    lut = colormap_lut(name)
    assert lut.shape == (256, 3) and lut.dtype == np.uint8
    assert not lut.flags.writeable  # shared by every caller through the cache


def test_jet_runs_from_dark_blue_to_dark_red():
    lut = colormap_lut("jet")
    r, g, b = (int(v) for v in lut[0])
    assert b > 100 and r == 0 and g == 0
    r, g, b = (int(v) for v in lut[255])
    assert r > 100 and g == 0 and b == 0


def test_grey_is_the_identity():
    assert np.array_equal(colormap_lut("grey"), np.repeat(np.arange(256, dtype=np.uint8)[:, None], 3, axis=1))


def test_luts_are_opencv_tables_in_rgb_order():
    bgr = cv2.applyColorMap(np.arange(256, dtype=np.uint8).reshape(256, 1), cv2.COLORMAP_INFERNO)[:, 0]
    assert np.array_equal(colormap_lut("inferno"), bgr[:, ::-1])


def test_unknown_colormap_lists_the_choices():
    with pytest.raises(RenderError) as caught:
        colormap_lut("rainbow")
    assert isinstance(caught.value, RadcamError) and isinstance(caught.value, ValueError)
    assert all(name in str(caught.value) for name in COLORMAPS)


def test_heatmap_shape_dtype_and_values():
    cam = _gradient_cam()
    out = heatmap(cam, "viridis")
    assert out.shape == (64, 80, 3) and out.dtype == np.uint8
    lut = colormap_lut("viridis")
    assert np.array_equal(out[:, 0], np.broadcast_to(lut[0], (64, 3)))
    assert np.array_equal(out[:, -1], np.broadcast_to(lut[255], (64, 3)))
    assert np.array_equal(out, lut[np.round(cam * 255).astype(np.uint8)])


def test_cam_indices_clip_out_of_range_and_nan():
    cam = np.array([[-0.5, 0.0, 0.5, 1.0, 1.7, np.nan]], np.float32)
    assert cam_indices(cam).tolist() == [[0, 0, 128, 255, 255, 0]]


# overlay -------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("grey", [True, False])
def test_below_threshold_is_the_base_exactly_and_above_is_the_blend(grey):
    h, w = 64, 80
    base = _base(h, w) if grey else np.random.default_rng(2).integers(0, 256, (h, w, 3), dtype=np.uint8)
    base_rgb = np.repeat(base[..., None], 3, axis=2) if grey else base
    cam = _gradient_cam(h, w)
    alpha = 0.3
    out = overlay(base, cam, threshold=0.5, alpha=alpha, colormap="jet", contour=False)
    assert out.shape == (h, w, 3) and out.dtype == np.uint8
    below = cam < 0.5
    assert np.array_equal(out[below], base_rgb[below])
    colours = heatmap(cam, "jet").astype(np.float64)
    expected = base_rgb * (1 - alpha) + colours * alpha
    assert np.abs(out[~below].astype(np.float64) - expected[~below]).max() <= 1


def test_threshold_compares_at_or_above():
    cam = np.array([[0.49, 0.5, 0.51]], np.float32)
    base = np.zeros((1, 3), np.uint8)
    out = overlay(base, cam, threshold=0.5, alpha=1.0, contour=False)
    assert np.array_equal(out[0, 0], [0, 0, 0])
    assert np.array_equal(out[0, 1], heatmap(cam)[0, 1]) and np.array_equal(out[0, 2], heatmap(cam)[0, 2])


def test_alpha_zero_is_the_base_and_alpha_one_is_the_colour():
    base, cam = _base(50, 60), _gradient_cam(50, 60)
    grey = np.repeat(base[..., None], 3, axis=2)
    assert np.array_equal(overlay(base, cam, threshold=0.0, alpha=0.0, contour=False), grey)
    assert np.array_equal(overlay(base, cam, threshold=0.0, alpha=1.0, colormap="hot", contour=False),
                          heatmap(cam, "hot"))


def test_threshold_above_every_value_leaves_the_base():
    base, cam = _base(40, 40), _gradient_cam(40, 40)
    grey = np.repeat(base[..., None], 3, axis=2)
    assert np.array_equal(overlay(base, cam, threshold=1.01, alpha=1.0, contour=False), grey)


def test_contour_lies_on_the_threshold_boundary_only_when_asked():
    h, w = 200, 240
    base = np.full((h, w), 128, np.uint8)
    cam = _disc_cam(h, w)
    yellow = (255, 255, 0)
    plain = overlay(base, cam, threshold=0.5, alpha=0.5, colormap="grey", contour=False)
    assert not np.all(plain == yellow, axis=2).any()
    lined = overlay(base, cam, threshold=0.5, alpha=0.5, colormap="grey", contour=True, contour_thickness=1)
    on_line = np.all(lined == yellow, axis=2)
    assert on_line.sum() > 2 * np.pi * 50 * 0.8  # the whole circle is drawn
    # every contour pixel is within a pixel of the mask boundary
    inside = (cam >= 0.5).astype(np.uint8)
    boundary = cv2.morphologyEx(inside, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)).astype(bool)
    assert np.all(boundary[on_line])
    # and away from the line the overlay is unchanged
    far = ~cv2.dilate(boundary.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    assert np.array_equal(lined[far], plain[far])


def test_default_contour_thickness_grows_with_the_image():
    widths = []
    for size in (512, 1024, 2048):
        cam = _disc_cam(size, size, radius=size // 4)
        lined = overlay(np.zeros((size, size), np.uint8), cam, colormap="grey", alpha=0.0, contour=True)
        row = np.all(lined[size // 2] == (255, 255, 0), axis=1).astype(int)
        edges = np.flatnonzero(np.diff(np.r_[0, row, 0]))  # start, end, start, end of the two line crossings
        widths.append(edges[1] - edges[0])
    assert widths[0] <= 2 and widths[0] < widths[1] < widths[2] <= 10, widths


def test_cam_of_another_size_is_refused_not_resized():
    with pytest.raises(RenderError, match="resize"):
        overlay(_base(100, 100), _gradient_cam(50, 50))


def test_bad_alpha_and_dtype_are_refused():
    with pytest.raises(RenderError):
        overlay(_base(10, 10), _gradient_cam(10, 10), alpha=1.5)
    with pytest.raises(RenderError):
        overlay(np.zeros((10, 10), np.float32), _gradient_cam(10, 10))


def test_renderer_rerenders_match_one_off_overlays_and_return_new_arrays():
    base, cam = _base(120, 100), _disc_cam(120, 100, radius=30) * np.float32(1.05)
    renderer = OverlayRenderer(base, cam)
    first = renderer.render(threshold=0.4, alpha=0.6, colormap="turbo")
    settings = [dict(threshold=0.2, alpha=0.6, colormap="turbo"), dict(threshold=0.4, alpha=0.2, colormap="jet"),
                dict(threshold=0.95, alpha=0.9, colormap="inferno", contour=True),
                dict(threshold=0.4, alpha=0.6, colormap="turbo")]
    for kw in settings:
        again = renderer.render(**kw)
        assert np.array_equal(again, overlay(base, cam, **kw))
        assert again is not first and not np.shares_memory(again, first)
    assert np.array_equal(renderer.render(threshold=0.4, alpha=0.6, colormap="turbo"), first)
    assert np.array_equal(renderer.base[..., 0], base)  # the cached base was not drawn on


# panels --------------------------------------------------------------------------------------------------------

def _locate(composite, panel, y):
    return np.array_equal(composite[y:y + panel.shape[0], :], panel)


def test_panels_side_by_side_width_and_unchanged_pixels():
    grey = _base(100, 120)
    rgb = np.random.default_rng(3).integers(0, 256, (100, 90, 3), dtype=np.uint8)
    out = compose_panels([("Original", grey), ("Overlay", rgb)], gap=7)
    assert out.dtype == np.uint8 and out.ndim == 3
    assert out.shape[1] == 120 + 90 + 7
    top = out.shape[0] - 100  # titles above, nothing below
    assert top > 0
    assert np.array_equal(out[top:, :120], np.repeat(grey[..., None], 3, axis=2))
    assert np.array_equal(out[top:, 127:], rgb)
    assert not out[top:, 120:127].any()  # the gap


def test_panels_without_text_are_just_the_images():
    a, b, c = _base(50, 40, 1), _base(50, 30, 2), _base(50, 20, 3)
    out = compose_panels([a, b, c], gap=0)
    assert np.array_equal(out[..., 1], np.hstack([a, b, c]))


def test_titles_list_header_and_caption_add_bars_and_keep_panels():
    a = np.random.default_rng(4).integers(0, 256, (300, 200, 3), dtype=np.uint8)
    plain = compose_panels([a, a], gap=5)
    titled = compose_panels([a, a], ["Original", "Heatmap"], gap=5)
    full = compose_panels([a, a], ["Original", "Heatmap"], caption="Grad-CAM · nodule 0.93 · threshold 0.50",
                          header="ANONYMOUS · DX PA CHEST", gap=5)
    assert plain.shape[0] == 300 < titled.shape[0] < full.shape[0]
    assert full.shape[1] == titled.shape[1] == 405
    caption_h = full.shape[0] - titled.shape[0] - (titled.shape[0] - 300)  # header bar = title bar height
    top = full.shape[0] - caption_h - 300
    assert np.array_equal(full[top:top + 300, :200], a) and np.array_equal(full[top:top + 300, 205:], a)
    assert full[:top].any() and full[top + 300:].any()  # text was drawn in the bars


def test_shorter_panels_are_padded_not_resized():
    tall, short = _base(80, 30), _base(50, 30)
    out = compose_panels([tall, short], gap=0)
    assert out.shape[:2] == (80, 60)
    assert np.array_equal(out[:50, 30:, 0], short) and not out[50:, 30:].any()


def test_compose_panels_errors():
    with pytest.raises(RenderError):
        compose_panels([])
    with pytest.raises(RenderError):
        compose_panels([_base(10, 10)], ["a", "b"])


def test_text_is_made_drawable():
    assert ascii_text("Grad-CAM · Müller — 5 µm") == "Grad-CAM | Muller - 5 um"
    assert ascii_text("患者") == "??"
