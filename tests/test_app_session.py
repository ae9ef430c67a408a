"""The model thread's session without Qt: loading the demo model, checks, the batch export's job body."""

import numpy as np


def test_a_check_of_another_map_of_the_same_image_reuses_the_baselines(monkeypatch):
    import viewer.trust
    from viewer.app import ExplainKey, Quiet, TrustRequest
    from viewer.app.session import ModelSession
    from viewer.assets import demo_studies
    from viewer.io import open_image
    from viewer.model import default_model_path

    Context = Quiet  # what a job function gets from the worker thread: a Reporter
    session = ModelSession()
    session.load(default_model_path(), False, Context())
    pixels = open_image(demo_studies()[0]).render()[::4, ::4].copy()
    scored = []
    real = viewer.trust.score_baselines
    monkeypatch.setattr(viewer.trust, "score_baselines", lambda *a, **k: scored.append(1) or real(*a, **k))

    def check(method, image, region=None):
        result = session.engine.explain(image, method=method)
        key = ExplainKey("demo", 0, method, None, None, None)
        return session.check(TrustRequest(key=key, pixels=image, result=result, region=region), Context())[1]

    first = check("gradcam", pixels)
    again = check("gradcampp", pixels.copy())  # same pixels, another map: the baselines do not change
    assert len(scored) == 1 and again["baselines"] == first["baselines"]
    box = np.zeros(pixels.shape, bool)
    box[100:150, 100:150] = True
    boxed = check("gradcam", pixels, box)  # a box adds pointing to the baselines: scored again
    darker = check("gradcam", (pixels // 2).copy())  # another image: scored again
    assert len(scored) == 3 and "pointing" in boxed["baselines"]["random"]
    assert darker["baselines"] != first["baselines"]


def test_the_demo_is_explained_and_exported_through_the_job_contract_without_qt(tmp_path):
    from viewer.app import ExplainRequest, InlineJobs, ViewerState
    from viewer.app.exporting import ExportOptions, ExportPlan
    from viewer.app.session import ModelSession
    from viewer.assets import demo_studies
    from viewer.io import open_image
    from viewer.model import default_model_path

    state, jobs, session, errors = ViewerState(), InlineJobs(), ModelSession(), []
    jobs.submit(lambda reporter: session.load(default_model_path(), False, reporter),
                lambda info: setattr(state, "model", info), errors.append, kind="model")
    image = open_image(demo_studies()[0])
    state.show_image(image, image.render(), image.value_span())
    request = ExplainRequest(key=state.key(), pixels=state.model_input, base=state.base, style=state.style)
    jobs.submit(lambda reporter: session.explain(request, reporter), state.accept, errors.append, kind="explain")
    assert not errors and state.explanation is not None and state.explanation.key == state.key()
    assert state.explanation.result.cam.shape == image.render().shape[:2]

    options = ExportOptions(panels=["overlay"], folder=tmp_path, sidecar=False)
    plan = ExportPlan(state, options, [image.path], 100)
    assert plan.refusal() is None and plan.existing == [] and len(plan.paths) == 1
    written = []
    jobs.submit(plan.job(session, open_image), written.extend, errors.append, kind="export")
    assert written == plan.paths and written[0].is_file()
    assert ExportPlan(state, options, [image.path], 100).existing == written  # asked before replacing
    batch = ExportPlan(state, ExportOptions(panels=["heatmap"], folder=tmp_path, sidecar=False, batch=True,
                                            format="jpeg"), [image.path, image.path], 100)
    jobs.submit(batch.job(session, open_image), written.extend, errors.append, kind="export")
    assert not errors and len(written) == 3 and all(path.is_file() for path in written)
