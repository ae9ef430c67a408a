"""The application layer without Qt: state events, the stale-result rule, the job contract."""

import sys

import numpy as np
import pytest

from viewer.app import (
    ExplainKey,
    ExplainSettings,
    Explanation,
    InlineJobs,
    JobTracker,
    Part,
    Quiet,
    ViewerState,
)
from viewer.app.events import Event, same
from viewer.assets import demo_studies
from viewer.io import open_image


@pytest.fixture
def image():
    if not demo_studies():
        pytest.skip("the demo study is not installed")
    return open_image(demo_studies()[0])


def record(state, *names):
    seen = []
    for name in names:
        state.connect(name, lambda value, n=name: seen.append((n, value)))
    return seen


def fake_explanation(key):
    return Explanation(key=key, result=None, base=np.zeros((2, 2), np.uint8), renderer=None,
                       heatmap=np.zeros((2, 2, 3), np.uint8), overlay=None, style=None)


def test_an_event_calls_its_callbacks_in_order_and_can_be_disconnected():
    event, calls = Event("x"), []
    first = event.connect(lambda v: calls.append(("a", v)))
    event.connect(lambda v: calls.append(("b", v)))
    event.emit(1)
    event.disconnect(first)
    event.emit(2)
    assert calls == [("a", 1), ("b", 1), ("b", 2)]


def test_a_field_emits_only_when_its_value_changes():
    state = ViewerState()
    seen = record(state, "inverted", "settings", "base")
    state.inverted = False  # unchanged
    state.inverted = True
    state.settings = ExplainSettings("gradcam")  # equal to the default
    state.settings = ExplainSettings("scorecam")
    array = np.zeros((3, 3))
    state.base = array
    state.base = array  # the same array: no event
    state.base = array.copy()  # another array, equal pixels: an event (identity decides for arrays)
    assert [name for name, _ in seen] == ["inverted", "settings", "base", "base"]
    assert same(1, 1.0) and not same(np.zeros(2), np.zeros(2))


def test_showing_an_image_resets_window_inversion_explanation_and_box(image):
    state = ViewerState()
    state.inverted, state.box = True, (1, 2, 3, 4)
    seen = record(state, "image", "window", "inverted", "explanation")
    pixels = image.render()
    state.show_image(image, pixels, image.value_span())
    assert state.image is image and state.base is pixels and state.window == image.default_window
    assert not state.inverted and state.box is None and state.explanation is None
    assert [name for name, _ in seen] == ["image"]  # the image announces its window and inversion
    assert np.array_equal(state.render_base(), pixels)
    state.inverted = True
    assert np.array_equal(state.render_base(), 255 - pixels)
    assert state.preset(0) == image.windows[-1] and state.window.explanation == "auto"
    assert state.preset(5) is None
    state.reset_window()
    assert state.window == image.default_window and not state.inverted


def test_a_result_for_a_key_no_longer_current_is_dropped(image):
    state = ViewerState()
    assert state.key() is None
    state.show_image(image, image.render(), image.value_span())
    key = state.key()
    assert key == ExplainKey(str(image.path), 0, "gradcam", None, None, None)
    assert key.settings == state.settings
    state.settings = ExplainSettings("scorecam", target=1)
    assert not state.current(key) and not state.accept(fake_explanation(key))
    assert state.dropped_results == 1 and state.explanation is None
    now = state.key()
    assert now.target == 1 and now.method == "scorecam"  # no tuple positions
    shown = fake_explanation(now)
    assert state.accept(shown) and state.explanation is shown and state.showing() is shown
    assert state.accept_report(now, {"ok": 1}) and state.trust_report == {"ok": 1}
    assert not state.accept_report(key, {"stale": 1}) and state.trust_report == {"ok": 1}
    state.settings = ExplainSettings("gradcam")  # the map stays on screen, but no longer fits the settings
    assert state.showing() is None and state.on_screen(now)


def test_jobs_run_inline_and_drop_a_superseded_result():
    jobs, done, errors = InlineJobs(), [], []
    jobs.submit(lambda reporter: 42, done.append, errors.append, kind="explain")

    def failing(reporter):
        from viewer.errors import StudyError
        raise StudyError("x.dcm: broken\n  file")

    jobs.submit(failing, done.append, errors.append, kind="load")
    assert done == [42] and errors == ["x.dcm: broken file"]
    tracker = JobTracker()
    tracker.start("explain", 1)
    tracker.start("explain", 2)
    assert not tracker.is_wanted("explain", 1) and tracker.is_wanted("explain", 2)
    assert tracker.forget("explain") == 2 and tracker.wanted("explain") is None


def test_a_part_reports_its_share_of_the_bar():
    class Recording(Quiet):
        def __init__(self):
            self.seen = []

        def progress(self, fraction):
            self.seen.append(fraction)

    reporter = Recording()
    second = Part(reporter, 0.5, 0.25)
    second.progress(0.0)
    second.progress(1.0)
    assert reporter.seen == [0.5, 0.75] and not second.cancelled()


def test_the_app_layer_imports_neither_qt_nor_tensorflow():
    import subprocess

    code = ("import sys, viewer.app, viewer.app.state;"
            "print(','.join(sorted(m for m in sys.modules if m.split('.')[0] in ('PySide6', 'tensorflow', 'keras'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""


def test_a_subclass_of_the_state_keeps_its_bases_events():
    from viewer.app import field

    class WithWorklist(ViewerState):
        worklist = field[tuple](())

    state = WithWorklist()
    seen = record(state, "worklist", "inverted")
    state.worklist = ("a.dcm",)
    state.inverted = True
    assert [name for name, _ in seen] == ["worklist", "inverted"]
