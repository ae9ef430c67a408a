"""Flips and quarter turns as one value (viewer.app.orientation): pixels, points, corner note, edge labels."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from conftest import write_dicom

from viewer.app.orientation import Orientation, edge_labels, opposite, patient_directions
from viewer.app.state import ViewerState

FIXTURES = "/work/shared/fixtures/dicom"
IMAGE = np.arange(6).reshape(2, 3)  # 2 rows, 3 columns: [[0 1 2], [3 4 5]]


def test_flips_and_turns_move_pixels_as_on_screen():
    o = Orientation()
    assert (o.flipped_h().apply(IMAGE) == IMAGE[:, ::-1]).all()
    assert (o.flipped_v().apply(IMAGE) == IMAGE[::-1]).all()
    # Clockwise: the first column, read bottom to top, becomes the top row.
    assert o.rotated().apply(IMAGE).tolist() == [[3, 0], [4, 1], [5, 2]]
    assert o.rotated(clockwise=False).apply(IMAGE).tolist() == [[2, 5], [1, 4], [0, 3]]


def test_any_sequence_reduces_to_one_of_eight_values():
    o = Orientation()
    assert o.rotated().rotated().rotated().rotated() == o
    assert o.flipped_h().flipped_h() == o
    assert o.flipped_h().flipped_v() == o.rotated().rotated()
    seen = {o}
    for _ in range(3):
        seen |= {v.rotated() for v in seen} | {v.flipped_h() for v in seen}
    assert len(seen) == 8
    for value in seen:  # pixels and the value agree for every one of them
        shown = value.apply(IMAGE)
        assert shown.shape[:2] == value.shown_size(3, 2)[::-1]


def test_the_corner_note():
    o = Orientation()
    assert o.describe() == []
    assert o.flipped_h().describe() == ["Flipped H"]
    assert o.flipped_v().describe() == ["Flipped V"]
    assert o.rotated().describe() == ["Rotated 90°"]
    assert o.rotated(clockwise=False).describe() == ["Rotated 270°"]
    assert o.flipped_h().rotated().describe() == ["Flipped H", "Rotated 90°"]


@pytest.mark.parametrize("steps", [(), ("h",), ("v",), ("r",), ("r", "h"), ("l", "v", "r", "r")])
def test_points_follow_their_pixel(steps):
    o = Orientation()
    for step in steps:
        o = o.flipped_h() if step == "h" else o.flipped_v() if step == "v" else o.rotated(step == "r")
    image = np.zeros((4, 7), int)
    image[1, 5] = 1
    shown = o.apply(image)
    x, y = o.map_point(5.5, 1.5, 7, 4)  # the centre of pixel (x=5, y=1)
    assert shown[int(y), int(x)] == 1


def test_edge_labels_from_patient_orientation():
    # PS3.3 C.7.6.1.1.1: the first value is the direction of the rows (toward the right edge), the second of the
    # columns (toward the bottom): a PA chest film is ["L", "F"], the patient's left on the image's right.
    o = Orientation()
    assert o.edge_labels("L", "F") == {"right": "L", "left": "R", "bottom": "F", "top": "H"}
    assert o.flipped_h().edge_labels("L", "F") == {"right": "R", "left": "L", "bottom": "F", "top": "H"}
    assert o.rotated().edge_labels("L", "F") == {"right": "H", "left": "F", "bottom": "L", "top": "R"}
    assert o.edge_labels("LP", "FA")["left"] == "RA"
    assert opposite("HPR") == "FAL"


def test_edge_labels_from_the_files(tmp_path):
    cr = pydicom.dcmread(f"{FIXTURES}/cr_chest_mono1_j2k.dcm", stop_before_pixels=True)  # ['L', 'F'], PA
    assert patient_directions(cr) == ("L", "F")
    view_only = write_dicom(tmp_path / "pa.dcm", np.zeros((4, 4), np.uint8), ViewPosition="PA")
    assert edge_labels(pydicom.dcmread(view_only), Orientation())["right"] == "L"
    nih = pydicom.dcmread(f"{FIXTURES}/dx_chest_nih_uncompressed.dcm", stop_before_pixels=True)
    assert edge_labels(nih, Orientation()) == {}  # neither attribute: no labels rather than a guess
    lateral = write_dicom(tmp_path / "ll.dcm", np.zeros((4, 4), np.uint8), ViewPosition="LL", PatientOrientation="")
    assert edge_labels(pydicom.dcmread(lateral), Orientation()) == {}


def test_state_resets_orientation_for_the_next_image(tmp_path):
    from viewer.io import open_image

    state = ViewerState()
    image = open_image(write_dicom(tmp_path / "a.dcm", np.zeros((4, 6), np.uint8)))
    state.show_image(image, image.render(), 255.0)
    state.orientation = state.orientation.rotated()
    seen = []
    state.connect("orientation", seen.append)
    state.show_image(image, image.render(), 255.0)
    assert state.orientation == Orientation() and seen == [Orientation()]


def test_every_orientation_is_a_presentation_states_turn_then_flip():
    """A GSPS turns first and flips after (PS3.3 C.10.6); Orientation keeps flip-then-turn: `spatial` converts,
    and the presentation layer's reading turns it back into the same orientation for all eight."""
    from viewer.app.orientation import Orientation
    from viewer.io.presentation import PresentationState
    from viewer.ui.presentation_layer import spatial

    seen = set()
    for flips in range(2):
        for turns in range(4):
            orientation = Orientation()
            orientation = orientation.flipped_h() if flips else orientation
            for _ in range(turns):
                orientation = orientation.rotated()
            degrees, flip = orientation.spatial
            state = PresentationState(None, "1.2", "X", "", "", {}, rotation=degrees, flip=flip)
            assert spatial(state) == orientation, (flips, turns, degrees, flip)
            seen.add((degrees, flip))
    assert len(seen) == 8
