"""The procedural chest phantom: deterministic, in range, and its lesions are where and what it says."""

import cv2
import numpy as np
import pytest

from viewer.demo.phantom import LESION_KINDS, make_batch, make_phantom


def test_same_seed_same_image_and_different_seeds_differ():
    a, b, c = make_phantom(5, 128), make_phantom(5, 128), make_phantom(6, 128)
    assert np.array_equal(a.image, b.image)
    assert [(lesion.kind, lesion.box) for lesion in a.lesions] == [(lesion.kind, lesion.box) for lesion in b.lesions]
    assert not np.array_equal(a.image, c.image)


@pytest.mark.parametrize("size", [64, 128, 256])
def test_image_is_float32_in_unit_range(size):
    image = make_phantom(1, size).image
    assert image.dtype == np.float32 and image.shape == (size, size)
    assert 0.0 <= image.min() and image.max() <= 1.0


def test_lungs_are_darker_than_mediastinum_and_abdomen():
    p = make_phantom(2, 256, [])
    mediastinum = p.image[100:140, 120:136].mean()
    abdomen = p.image[230:250, 60:200].mean()
    assert p.image[p.lungs].mean() < mediastinum - 0.25
    assert p.image[p.lungs].mean() < abdomen - 0.25


@pytest.mark.parametrize("seed", range(30))
def test_random_labels_match_lesions_and_lesions_are_valid(seed):
    p = make_phantom(seed, 128)
    assert p.labels == {kind: int(any(lesion.kind == kind for lesion in p.lesions)) for kind in LESION_KINDS}
    for lesion in p.lesions:
        _check_lesion(p, lesion)


@pytest.mark.parametrize("requested", [[], ["nodule"], ["consolidation"], ["nodule", "consolidation"]])
@pytest.mark.parametrize("seed", range(8))
def test_requested_lesions_are_present_and_visible(requested, seed):
    p = make_phantom(seed, 256, requested)
    assert sorted(lesion.kind for lesion in p.lesions) == sorted(requested)
    assert p.labels == {kind: int(kind in requested) for kind in LESION_KINDS}
    for lesion in p.lesions:
        _check_lesion(p, lesion)


def _check_lesion(p, lesion):
    mask = lesion.mask
    assert mask.dtype == bool and mask.shape == p.image.shape and mask.any()
    assert not (mask & ~p.lungs).any(), "lesion outside the lung fields"
    x, y, w, h = lesion.box
    ys, xs = np.nonzero(mask)
    assert (x, y, w, h) == (xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1)
    size = p.image.shape[0]
    if lesion.kind == "nodule":
        assert 0.02 * size <= max(w, h) / 2 <= 0.08 * size
    # Brighter than its surroundings: a ring just outside the mask, within the lungs.
    width = max(3, size // 40)
    ring = cv2.dilate(mask.astype(np.uint8), np.ones((2 * width + 1,) * 2, np.uint8)).astype(bool) & ~mask & p.lungs
    other = np.zeros_like(mask)
    for les in p.lesions:
        other |= les.mask
    ring &= ~other
    if ring.sum() >= 10:
        assert p.image[mask].mean() > p.image[ring].mean() + 0.03


def test_a_nodule_raises_the_intensity_it_covers():
    plain, with_nodule = make_phantom(9, 128, []), make_phantom(9, 128, ["nodule"])
    mask = with_nodule.lesions[0].mask
    assert with_nodule.image[mask].mean() > plain.image[mask].mean() + 0.1


def test_unknown_lesion_kind_is_refused():
    with pytest.raises(ValueError, match="effusion"):
        make_phantom(0, 64, ["effusion"])


def test_make_batch_shapes_types_and_determinism():
    images, labels, lesions = make_batch(3, 6, 96)
    assert images.shape == (6, 96, 96) and images.dtype == np.float32
    assert labels.shape == (6, 2) and np.issubdtype(labels.dtype, np.integer)
    assert len(lesions) == 6
    for row, found in zip(labels, lesions, strict=True):
        assert list(row) == [int(any(lesion.kind == k for lesion in found)) for k in LESION_KINDS]
    again = make_batch(3, 6, 96)
    assert np.array_equal(images, again[0]) and np.array_equal(labels, again[1])
    assert not np.array_equal(images[0], images[1])


def test_make_batch_random_labels_are_balanced_enough():
    _, labels, _ = make_batch(0, 200, 32)
    assert np.all((labels.mean(0) > 0.35) & (labels.mean(0) < 0.65))
