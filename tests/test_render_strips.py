"""viewer.render.strips' parts of the banded export (issue 19): text bars drawn on narrow canvases, the colour bar
kept as its distinct rows, and the band cache that lets a band going into several files be made once. Each is held
to the whole-image renderer's pixels."""

from __future__ import annotations

import numpy as np
import pytest

from viewer.render import colorbar
from viewer.render.panels import WARNING_BACKGROUND, _text_bar, compose_panels, font_scale
from viewer.render.strips import (
    BandCache,
    Rows,
    array_rows,
    cached_rows,
    compose_rows,
    repeated_rows,
    row_runs,
    text_bar_rows,
)

CELLS = {
    "caption": lambda width: [(0, width, "Grad-CAM · nodule 0.91 · model demo · CAM threshold 0.40")],
    "titles": lambda width: [(0, width // 3, "Original"), (width // 3, width // 3, "Heatmap"),
                             (2 * (width // 3), width - 2 * (width // 3), "Overlay")],
    "accents": lambda width: [(0, width, "Patient Ä·ß — 2024-01-01 jjj ,,, µ°×")],
    "empty": lambda width: [(0, width, "")],
    "overflowing": lambda width: [(0, width // 2, "W" * 60), (width // 2, width - width // 2, "j" * 40)],
}


@pytest.mark.parametrize("kind", sorted(CELLS))
@pytest.mark.parametrize("height", [48, 301, 2500, 10_000])
@pytest.mark.parametrize("width", [5, 300, 2000, 33_137])
def test_text_bar_rows_are_the_whole_text_bar(kind, height, width):
    scale = font_scale(height)
    for align_left, background in ((True, (0, 0, 0)), (False, WARNING_BACKGROUND)):
        cells = CELLS[kind](width)
        expected = _text_bar(width, cells, scale, align_left, background)
        made = text_bar_rows(width, cells, scale, align_left, background)
        assert (made.height, made.width, made.channels) == expected.shape
        assert np.array_equal(np.vstack(list(made.bands(7))), expected), (kind, height, width)


def test_a_canvas_that_cuts_a_stroke_falls_back_to_the_whole_bar(monkeypatch):
    """A canvas narrower than its text has inked edges: the bar is then drawn whole, the same pixels."""
    import viewer.render.strips as strips

    calls = []
    original = strips._text_bar
    monkeypatch.setattr(strips, "text_margin", lambda thickness: -20)
    monkeypatch.setattr(strips, "_text_bar", lambda *args: calls.append(args) or original(*args))
    cells, scale = CELLS["caption"](3000), font_scale(2000)
    assert np.array_equal(text_bar_rows(3000, cells, scale, True).whole(), _text_bar(3000, cells, scale, True))
    assert calls  # the fallback ran


def test_a_cell_narrower_than_its_padding_draws_nothing_instead_of_crashing():
    """A scale <= 0 (a few-pixel-wide panel under a tall image's titles) crashed the process inside OpenCV."""
    tall, thin = np.zeros((10_000, 40), np.uint8), np.zeros((10_000, 6), np.uint8)
    composite = compose_panels([tall, thin], ["Original", "Heatmap"])
    assert composite.shape[1] == 40 + 6 + 100


@pytest.mark.parametrize("height", [48, 300, 4000])
def test_the_colour_bar_kept_as_distinct_rows_is_the_colour_bar(height):
    bar = colorbar(height, "jet", 0.4)
    assert np.array_equal(np.vstack(list(repeated_rows(bar).bands(13))), bar)
    distinct, index = row_runs(bar)
    assert np.array_equal(distinct[index], bar)
    if height >= 4000:
        assert distinct.nbytes < bar.nbytes / 4  # what is kept


def test_a_cached_band_is_made_once_and_kept_read_only():
    made = []
    image = np.arange(300 * 7, dtype=np.uint8).reshape(300, 7)
    cache = BandCache(size=4)
    rows = cached_rows(Rows(300, 7, 1, lambda top, bottom: made.append((top, bottom)) or image[top:bottom].copy()),
                       "x", cache)
    first = rows.read(0, 64)
    assert rows.read(0, 64) is first and made == [(0, 64)] and cache.reads == 2
    with pytest.raises(ValueError):
        first[0, 0] = 1  # shared between files: never painted on
    for top in range(64, 300, 64):
        rows.read(top, min(top + 64, 300))
    rows.read(0, 64)  # evicted (4 kept): made again, the same pixels
    assert made.count((0, 64)) == 2
    assert np.array_equal(rows.read(0, 300), image) and (0, 300) in made  # a whole read is made, never kept
    assert np.array_equal(np.vstack(list(rows.bands())), image)


def test_bands_never_cross_a_part_so_the_panels_bands_are_the_same_rows_in_every_file():
    """The composite's panel rows start below its title bars; its bands start there too, at the panels' own row 0,
    64, 128, ... as in the panel's own file: one cache entry serves both."""
    reads = []
    panel = np.random.default_rng(1).integers(0, 256, (200, 90, 3), np.uint8)
    rows = Rows(200, 90, 3, lambda top, bottom: reads.append((top, bottom)) or panel[top:bottom])
    composite = compose_rows([rows, array_rows(panel)], ["a", "b"], caption="x", header="h")
    bands = list(composite.bands(64))
    assert reads == [(0, 64), (64, 128), (128, 192), (192, 200)]
    assert np.array_equal(np.vstack(bands), compose_panels([panel, panel], ["a", "b"], caption="x", header="h"))


def _blobs(shape, seed, edges):
    """A CAM with a few regions over the threshold, holes in some, touching the image's edges when `edges`."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]].astype(np.float32)
    cam = np.zeros(shape, np.float32)
    for _ in range(4):
        cy, cx = rng.uniform(0, shape[0]), rng.uniform(0, shape[1])
        ry, rx = rng.uniform(0.05, 0.3) * shape[0], rng.uniform(0.05, 0.3) * shape[1]
        cam = np.maximum(cam, np.exp(-(((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2)))
    cam[shape[0] // 3:shape[0] // 3 + 9, shape[1] // 4:shape[1] // 4 + 7] = 0.0  # a hole
    if edges:
        cam[:, :3], cam[-2:, :] = 0.95, 0.9  # along the left and bottom edges
    return cam


@pytest.mark.parametrize("shape", [(301, 257), (1100, 1500), (2100, 2100)])
@pytest.mark.parametrize("edges", [False, True])
def test_the_contour_traced_on_its_regions_box_is_the_whole_images(shape, edges):
    """Traced and drawn on the box of the CAM's regions, not the whole image: the same lines (thickness 1 to 4)."""
    from viewer.render import overlay
    from viewer.render.strips import overlay_rows

    base = np.random.default_rng(2).integers(0, 256, shape, dtype=np.uint8)
    for seed in range(3):
        cam = _blobs(shape, seed, edges)
        expected = overlay(base, cam, threshold=0.5, alpha=0.5, colormap="jet", contour=True)
        made = overlay_rows(base, cam, 0.5, 0.5, "jet", True)
        assert np.array_equal(np.vstack(list(made.bands(64))), expected), (shape, edges, seed)


def test_no_contour_where_the_cam_reaches_its_threshold_nowhere():
    from viewer.render import overlay
    from viewer.render.strips import contour_lines, overlay_rows

    base, cam = np.zeros((300, 200), np.uint8), np.full((300, 200), 0.2, np.float32)
    assert contour_lines(cam, 0.5, 1) is None
    assert np.array_equal(overlay_rows(base, cam, 0.5, 0.5, "jet", True).whole(),
                          overlay(base, cam, threshold=0.5, alpha=0.5, colormap="jet", contour=True))


@pytest.mark.parametrize("shape", [(1, 1, 3), (5, 7, 3), (64, 1000, 3), (3, 0, 3), (9, 3)])
def test_filled_is_np_full(shape):
    from viewer.render.panels import filled

    for colour in ((0, 0, 0), (170, 20, 20), (255, 1, 128)):
        value = colour if shape[-1] == 3 else colour[0]
        assert np.array_equal(filled(shape, value), np.full(shape, value, np.uint8))
