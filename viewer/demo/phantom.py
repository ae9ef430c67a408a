"""Procedural PA chest radiograph phantom (numpy + OpenCV only), deterministic from a seed.

Anatomy is drawn as attenuation layers (tissue and bone positive, lung air negative) in coordinates
normalised to the image side, summed, then mapped to a displayed image in [0, 1] where bone is
bright and air dark, like a MONOCHROME2 radiograph. Image left is the patient's right (PA view).
Lesions are added as extra attenuation inside the lung fields, so they brighten what lies there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

LESION_KINDS = ("nodule", "consolidation")
_SHIFT = 4  # cv2 fixed-point bits: sub-pixel vertices keep outlines smooth at small sizes
_GAIN = 1.2  # display curve 1 - exp(-gain * attenuation): compresses dense mediastinum like film
_NORM = 1.0 - np.exp(-_GAIN * 2.0)


@dataclass
class Lesion:
    kind: str
    mask: np.ndarray  # bool (H, W): where the lesion adds visible intensity
    box: tuple[int, int, int, int]  # x, y, w, h in pixels, enclosing mask


@dataclass
class Phantom:
    image: np.ndarray  # float32 (H, W) in [0, 1], bright = attenuating
    lesions: list[Lesion]
    labels: dict[str, int]
    seed: int
    lungs: np.ndarray | None = field(repr=False, default=None)  # bool (H, W): lung fields (heart shadow excluded)

    @property
    def display(self) -> np.ndarray:
        """The phantom as an 8-bit display image, as a viewer shows it and the demo model was trained on."""
        return np.round(self.image * 255.0).astype(np.uint8)


def make_phantom(seed: int, size: int = 256, lesions: Sequence[str] | None = None) -> Phantom:
    """One phantom; lesions=None draws each kind with probability 0.5, otherwise exactly the kinds listed."""
    rng = np.random.default_rng(seed)
    if lesions is None:
        lesions = [kind for kind in LESION_KINDS if rng.random() < 0.5]
    unknown = set(lesions) - set(LESION_KINDS)
    if unknown:
        raise ValueError(f"unknown lesion kind(s) {sorted(unknown)}; expected {LESION_KINDS}")

    attenuation, lungs = _anatomy(rng, size)
    found = []
    for kind in lesions:
        field_ = _nodule(rng, lungs) if kind == "nodule" else _consolidation(rng, lungs)
        attenuation += field_
        found.append(_as_lesion(kind, field_, lungs))

    image = (1.0 - np.exp(-_GAIN * attenuation)) / _NORM
    image += rng.standard_normal(image.shape, dtype=np.float32) * (0.02 + 0.03 * image)  # quantum noise
    image = _blur(image, max(0.6, 0.003 * size))  # detector MTF; also correlates the noise
    np.clip(image, 0.0, 1.0, out=image)
    labels = {kind: int(any(lesion.kind == kind for lesion in found)) for kind in LESION_KINDS}
    return Phantom(image.astype(np.float32, copy=False), found, labels, int(seed), lungs)


def make_batch(seed: int, n: int, size: int = 128, lesions: Sequence[str] | None = None):
    """n phantoms from independent child seeds: (images (n, size, size) float32, labels (n, 2) int64, lesions)."""
    seeds = np.random.SeedSequence(seed).generate_state(n)
    images = np.empty((n, size, size), np.float32)
    labels = np.zeros((n, len(LESION_KINDS)), np.int64)
    found = []
    for i, child in enumerate(seeds):
        phantom = make_phantom(int(child), size, lesions)
        images[i] = phantom.image
        labels[i] = [phantom.labels[kind] for kind in LESION_KINDS]
        found.append(phantom.lesions)
    return images, labels, found


# ---- drawing helpers (normalised coordinates) ----

def _pts(shapes, size: int) -> list[np.ndarray]:
    """Equal-length normalised shapes (n, points, 2) to cv2 fixed-point vertex arrays, in one conversion."""
    return list(np.round(np.asarray(shapes, np.float64) * (size << _SHIFT)).astype(np.int32, order="C"))


def _poly(canvas: np.ndarray, xy, value: float) -> None:
    _polys(canvas, [xy], value)


def _polys(canvas: np.ndarray, shapes, value: float) -> None:
    cv2.fillPoly(canvas, _pts(shapes, canvas.shape[0]), float(value), cv2.LINE_8, _SHIFT)


def _curve(canvas: np.ndarray, xy, value: float, thickness: float) -> None:
    _curves(canvas, [xy], value, thickness)


def _curves(canvas: np.ndarray, curves, value: float, thickness: float) -> None:
    size = canvas.shape[0]
    width = max(1, int(round(thickness * size)))
    cv2.polylines(canvas, _pts(curves, size), False, float(value), width, cv2.LINE_8, _SHIFT)


def _ellipse(canvas: np.ndarray, centre, axes, angle: float, value: float) -> None:
    scale = canvas.shape[0] * (1 << _SHIFT)
    c = (int(round(centre[0] * scale)), int(round(centre[1] * scale)))
    a = (max(1, int(round(axes[0] * scale))), max(1, int(round(axes[1] * scale))))
    cv2.ellipse(canvas, c, a, angle, 0, 360, float(value), -1, cv2.LINE_8, _SHIFT)


def _smooth(xy: np.ndarray, rounds: int = 3) -> np.ndarray:
    """Chaikin corner cutting: a polygon's corners become the soft curves of skin and muscle."""
    for _ in range(rounds):
        nxt = np.roll(xy, -1, 0)
        xy = np.stack([0.75 * xy + 0.25 * nxt, 0.25 * xy + 0.75 * nxt], 1).reshape(-1, 2)
    return xy


def _blur(a: np.ndarray, sigma_px: float) -> np.ndarray:
    return cv2.GaussianBlur(a, (0, 0), max(0.3, sigma_px), borderType=cv2.BORDER_REPLICATE)


def _lung_outline(cx, side, apex, dome, reach, medial, drop):
    """Closed lung outline: rounded apex, convex lateral wall, sharp costophrenic angle, diaphragm dome."""
    apex_d, cp = medial + 0.35 * (reach - medial), dome + drop
    s = np.linspace(0.0, 1.0, 18)
    lateral = np.stack([apex_d + (reach - apex_d) * np.sqrt(1 - (1 - s) ** 2) ** 0.8, apex + s * (cp - apex)], 1)
    top = medial + 0.45 * (reach - medial)
    d = np.linspace(reach, medial, 16)
    u = np.where(d > top, (d - top) / (reach - top), (d - top) / (medial - top))
    y_med = dome + 0.02
    dome_y = dome + np.where(d > top, cp - dome, y_med - dome) * u ** 2
    diaphragm = np.stack([d, dome_y], 1)
    y = np.linspace(y_med, apex, 14)
    t = np.clip((y - apex) / 0.12, 0, 1)
    medial_wall = np.stack([apex_d - (apex_d - medial) * np.sqrt(1 - (1 - t) ** 2), y], 1)
    outline = np.concatenate([lateral, diaphragm[1:], medial_wall[1:]])
    outline[:, 0] = cx + side * outline[:, 0]
    return outline


# ---- anatomy ----

def _anatomy(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Attenuation map (float32) and lung-field mask (bool, heart shadow excluded) for one random chest."""
    u = rng.uniform
    cx = 0.5 + rng.normal(0, 0.012)
    apex = u(0.09, 0.14)
    dome_r = u(0.64, 0.71)  # patient's right hemidiaphragm (image left) sits higher
    dome_l = dome_r + u(0.005, 0.035)
    reach = u(0.33, 0.37)
    chest = reach + u(0.06, 0.09)  # lateral chest wall, outside the lungs

    # Body outline; air pockets (trachea, gastric bubble) are drawn into it as thinner tissue.
    body = np.zeros((size, size), np.float32)
    outline = [(-0.09, -0.2), (-0.09, 0.0), (-0.1, 0.03), (-0.2, 0.05), (-0.42, 0.07), (-0.56, 0.1), (-0.56, 0.2),
               (-chest - 0.02, 0.3), (-chest, 0.45), (-chest - 0.01, 0.7), (-chest + 0.02, 1.0), (-chest + 0.02, 1.2)]
    outline = [(cx + d, y) for d, y in outline] + [(cx - d, y) for d, y in reversed(outline)]
    _poly(body, _smooth(np.array(outline)), 1.0)
    carina = apex + u(0.18, 0.22)
    _curve(body, [(cx, 0), (cx + 0.005, carina)], 0.86, 0.03)
    _curve(body, [(cx - 0.045, carina + 0.07), (cx + 0.005, carina), (cx + 0.05, carina + 0.06)], 0.9, 0.018)
    _ellipse(body, (cx + u(0.14, 0.22), dome_l + u(0.05, 0.07)), (u(0.03, 0.05), u(0.02, 0.03)), 0, 0.7)

    # Lungs, with the heart shadow replacing most of the air it overlies.
    lungs_sharp = np.zeros_like(body)
    for side, dome in ((-1, dome_r), (1, dome_l)):
        _poly(lungs_sharp, _lung_outline(cx, side, apex, dome, reach + u(-0.015, 0.015), u(0.05, 0.07),
                                         u(0.06, 0.1)), 1.0)
    heart = np.zeros((size, size), np.uint8)
    heart_cy, lv, ra = dome_l - 0.1, u(0.15, 0.2), u(0.09, 0.11)
    silhouette = [(-0.03, carina - 0.06), (-0.035, carina + 0.1), (-ra, heart_cy - 0.02), (-ra + 0.01, dome_r + 0.1),
                  (lv, dome_l + 0.1), (lv + 0.01, dome_l - 0.02), (lv - 0.015, heart_cy - 0.05),
                  (0.1, heart_cy - 0.15), (0.07, carina + 0.03), (0.085, carina - 0.02), (0.05, carina - 0.06)]
    _poly(heart, _smooth(np.array([(cx + d, y) for d, y in silhouette]), 2), 1)  # heart and great vessels
    air = lungs_sharp * np.where(heart > 0, np.float32(0.2), np.float32(1.0))

    ys = np.arange(size, dtype=np.float32)[:, None] / size
    xs = (np.arange(size, dtype=np.float32)[None, :] / size - cx) / 0.5
    body_map = _blur(body, 0.012 * size) * ((0.64 + 0.36 * (1 - xs * xs)) + 0.12 * ys)  # thicker centrally, caudally
    texture = cv2.resize(rng.standard_normal((12, 12)).astype(np.float32), (size, size),
                         interpolation=cv2.INTER_CUBIC)
    depth = 0.92 + 0.05 * texture - 0.22 * np.clip(0.45 - ys, 0, None)  # apices carry more overlying tissue
    lung_map = (0.65 * _blur(air, 0.005 * size) + 0.35 * _blur_coarse(air, 0.035 * size)) * depth

    bone = np.zeros_like(body)
    _spine(bone, rng, cx)
    _ribs(bone, rng, cx, apex, dome_r, reach)
    _clavicles(bone, rng, cx, apex)
    _vessels(bone, rng, cx, heart_cy - 0.15)
    attenuation = body_map - 0.9 * lung_map + _blur(bone, 0.0025 * size)
    return attenuation, (lungs_sharp > 0) & (heart == 0)


def _blur_coarse(a: np.ndarray, sigma_px: float) -> np.ndarray:
    """A wide blur done at a quarter of the resolution: same look, a fraction of the cost."""
    small = cv2.resize(a, (a.shape[1] // 4, a.shape[0] // 4), interpolation=cv2.INTER_AREA)
    return cv2.resize(_blur(small, sigma_px / 4), (a.shape[1], a.shape[0]), interpolation=cv2.INTER_LINEAR)


def _spine(bone: np.ndarray, rng: np.random.Generator, cx: float) -> None:
    """Vertebral column: vertebral bodies separated by disc spaces, pedicles and spinous processes."""
    h = 0.03 * 1.025 ** np.arange(30)  # vertebrae grow caudally
    y = (rng.uniform(-0.03, 0.0) + np.cumsum(h) - h)[:, None]
    h = h[:, None]
    bodies = np.stack([np.hstack([np.full_like(y, cx + dx), y + dy * h]) for dx, dy in
                       ((-0.033, 0), (0.033, 0), (0.036, 0.78), (-0.036, 0.78))], 1)
    _polys(bone, bodies, 0.05)
    ring = np.linspace(0, 2 * np.pi, 10)
    oval = np.stack([np.cos(ring), np.sin(ring)], 1)[None]
    for dx, dy, value in ((-0.025, 0.3, 0.08), (0.025, 0.3, 0.08), (0.0, 0.8, 0.06)):  # pedicles, spinous process
        centres = np.stack([np.full_like(y, cx + dx), y + dy * h], 2)
        _polys(bone, oval * (0.0065, 0.011) + centres, value)


def _ribs(bone: np.ndarray, rng: np.random.Generator, cx: float, apex: float, dome: float, reach: float) -> None:
    """Ten posterior rib arcs per side plus fainter anterior ribs sloping down towards the sternum."""
    t = np.linspace(0.0, 1.0, 16)[:, None]
    k = np.arange(10)
    y0 = apex - 0.035 + (dome - apex + 0.01) * (k / 9.4) ** 1.15 + rng.normal(0, 0.004, 10)
    length = (reach + 0.01) * np.minimum(1.0, 0.5 + 0.1 * k) * rng.uniform(0.95, 1.05, 10)
    drop = (0.11 + 0.012 * k) * rng.uniform(0.85, 1.15, 10)
    d = 0.03 + t * length  # (16, 10): distance from the midline along each rib
    y = y0 - 0.04 * t + drop * t ** 2.2
    front_d = d[-1] - t * (d[-1] - 0.12)
    front_y = y[-1] + 0.005 + (0.17 + 0.004 * k) * (1 - (1 - t) ** 1.6)
    posterior = np.concatenate([np.stack([cx + side * d.T, y.T], 2) for side in (-1, 1)])
    anterior = np.concatenate([np.stack([cx + side * front_d.T[:7], front_y.T[:7]], 2) for side in (-1, 1)])
    thick = 0.021
    _curves(bone, posterior, 0.09, thick)
    _curves(bone, posterior, -0.012, thick * 0.4)  # medullary bone: cortical margins read brighter
    _curves(bone, anterior, 0.035, thick * 1.1)


def _clavicles(bone: np.ndarray, rng: np.random.Generator, cx: float, apex: float) -> None:
    t = np.linspace(0.0, 1.0, 14)
    y_medial = apex + rng.uniform(0.08, 0.11)
    arcs = [np.stack([cx + side * (0.04 + 0.33 * t), y_medial - 0.09 * t + 0.012 * np.sin(2 * np.pi * t)], 1)
            for side in (-1, 1)]
    _curves(bone, arcs, 0.14, 0.026)


def _vessels(canvas: np.ndarray, rng: np.random.Generator, cx: float, hilum_y: float) -> None:
    """Pulmonary vessels branching from each hilum, tapering towards the periphery."""
    n, steps = 9, 4
    for side in (-1, 1):
        angle = rng.uniform(-1.3, 1.3, n)[:, None] + np.cumsum(rng.uniform(-0.4, 0.4, (n, steps)), 1)
        step = rng.uniform(0.035, 0.065, (n, steps))
        x = cx + side * (rng.uniform(0.07, 0.1, n)[:, None] + np.cumsum(step * np.cos(angle), 1))
        y = hilum_y + rng.uniform(0.0, 0.07, n)[:, None] + np.cumsum(step * np.sin(angle), 1)
        x = np.concatenate([x[:, :1] - side * step[:, :1] * np.cos(angle[:, :1]), x], 1)
        y = np.concatenate([y[:, :1] - step[:, :1] * np.sin(angle[:, :1]), y], 1)
        xy = np.stack([x, y], 2)
        for j in range(steps):
            _curves(canvas, xy[:, j:j + 2], 0.06, 0.011 * 0.7 ** j)


# ---- lesions ----

def _place(rng: np.random.Generator, lungs: np.ndarray, margin_px: float) -> tuple[int, int]:
    """A random pixel of the lung fields at least margin_px from their edge (or the deepest available)."""
    distance = cv2.distanceTransform(lungs.astype(np.uint8), cv2.DIST_L2, 3)
    candidates = np.flatnonzero(distance >= min(margin_px, 0.8 * distance.max()))
    y, x = divmod(int(rng.choice(candidates)), lungs.shape[1])
    return x, y


def _window(size: int, x0: int, y0: int, half: float) -> tuple[slice, slice]:
    half = int(np.ceil(half))
    return slice(max(0, y0 - half), min(size, y0 + half + 1)), slice(max(0, x0 - half), min(size, x0 + half + 1))


def _nodule(rng: np.random.Generator, lungs: np.ndarray) -> np.ndarray:
    """Round/elliptic blob with a soft edge, radius 2-5 % of the image."""
    size = lungs.shape[0]
    r = rng.uniform(0.02, 0.05) * size
    x0, y0 = _place(rng, lungs, r * 1.3)
    rx, ry, angle = r * rng.uniform(0.85, 1.15), r * rng.uniform(0.85, 1.15), rng.uniform(0, np.pi)
    rows, cols = _window(size, x0, y0, 1.5 * r)
    dy, dx = np.ogrid[rows.start - y0:rows.stop - y0, cols.start - x0:cols.stop - x0]
    c, s = np.cos(angle), np.sin(angle)
    rho = np.sqrt(((dx * c + dy * s) / rx) ** 2 + ((dy * c - dx * s) / ry) ** 2)
    profile = np.clip((1.25 - rho) / 0.5, 0, 1)  # flat core, soft rim
    added = np.zeros((size, size), np.float32)
    added[rows, cols] = rng.uniform(0.32, 0.45) * profile * profile * (3 - 2 * profile) * lungs[rows, cols]
    return added


def _consolidation(rng: np.random.Generator, lungs: np.ndarray) -> np.ndarray:
    """Irregular hazy patch, 8-18 % of the image across, cut off at the pleura like real airspace disease."""
    size = lungs.shape[0]
    r = rng.uniform(0.04, 0.09) * size
    x0, y0 = _place(rng, lungs, r * 0.6)
    blob = np.zeros((size, size), np.float32)
    for _ in range(rng.integers(4, 8)):
        centre = (x0 + rng.normal(0, 0.5 * r), y0 + rng.normal(0, 0.5 * r))
        axes = (r * rng.uniform(0.4, 0.8), r * rng.uniform(0.4, 0.8))
        _ellipse(blob, (centre[0] / size, centre[1] / size), (axes[0] / size, axes[1] / size),
                 rng.uniform(0, 180), 1.0)
    rows, cols = _window(size, x0, y0, 2.6 * r)
    patch = _blur(blob[rows, cols], 0.3 * r)
    mottle = cv2.resize(rng.uniform(0.6, 1.0, (6, 6)).astype(np.float32), (patch.shape[1], patch.shape[0]),
                        interpolation=cv2.INTER_CUBIC)
    added = np.zeros((size, size), np.float32)
    added[rows, cols] = rng.uniform(0.26, 0.36) * np.clip(patch * 1.4, 0, 1) * mottle * lungs[rows, cols]
    return added


def _as_lesion(kind: str, added: np.ndarray, lungs: np.ndarray) -> Lesion:
    mask = (added > 0.12 * added.max()) & lungs
    ys, xs = np.nonzero(mask)
    box = (int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1))
    return Lesion(kind, mask, box)
