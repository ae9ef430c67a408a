"""The review report's content: rows and CSV cells, HTML agreement numbers and thumbnails, pseudonyms, refusals."""

from __future__ import annotations

import csv
import dataclasses
import io
import os
import re

import pytest
from report_sessions import LABELS, fake_model, save, session, worklist, write_pngs

from viewer.app import report
from viewer.app.agreement import fleiss_kappa
from viewer.app.report_html import html_report
from viewer.app.report_thumbs import thumbnails
from viewer.app.review import Entry, FindingVerdict, Mark, ReviewSession, SessionModel
from viewer.errors import SessionError

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # the PDF test draws with Qt, headless
DATA_URI = 'src="data:image/png;base64,'
# Wikipedia's Cohen example (50 items, κ = 0.4; see test_agreement.py) as two readers' verdicts on 25 images × 2;
# with the model calling every finding present (ALL_PRESENT), agree is the example's "yes" and disagree its "no".
ALL_PRESENT = [0.8] * 50
COHEN_A = ["agree"] * 25 + ["disagree"] * 25
COHEN_B = ["agree"] * 20 + ["disagree"] * 5 + ["agree"] * 10 + ["disagree"] * 15


def _hand_made() -> ReviewSession:
    model = SessionModel("/models/m.keras", "cd" * 32, "m", ("Effusion", "Nodule"), {"Nodule": 0.3})
    seen = Entry(id="1", path="/data/DOE_JANE/a.dcm", sop_instance_uid="1.2.3", study_date="20240101",
                 patient_name="Doe Jane", patient_id="PID-1", view="PA", predictions={"Effusion": 0.8, "Nodule": 0.1},
                 findings={"Effusion": FindingVerdict("agree", "clear, as Doe's last film", Mark(10, 20, 30, 40),
                                                      "t", "alice"),
                           "Nodule": FindingVerdict("disagree", "small nodule RUL", Mark(5, 6), "t", "alice")},
                 seconds=12.34)
    unseen = Entry(id="2", path="/data/b.png")
    return ReviewSession([seen, unseen], model, reader="alice")


def test_csv_cells_of_a_hand_made_session():
    rows = list(csv.reader(io.StringIO(report.to_csv(report.rows(_hand_made())))))
    assert rows == [
        list(report.COLUMNS),
        ["alice", "1", "/data/DOE_JANE/a.dcm", "0", "Doe Jane", "PID-1", "20240101", "PA", "Effusion", "0.8000", "0.5",
         "present", "agree", "clear, as Doe's last film", "box 10,20,30,40", "12.3"],
        ["alice", "1", "/data/DOE_JANE/a.dcm", "0", "Doe Jane", "PID-1", "20240101", "PA", "Nodule", "0.1000", "0.3",
         "absent", "disagree", "small nodule RUL", "point 5,6", "12.3"],
        ["alice", "2", "/data/b.png", "0", "", "", "", "", "Effusion", "", "0.5", "", "", "", "", "0.0"],
        ["alice", "2", "/data/b.png", "0", "", "", "", "", "Nodule", "", "0.3", "", "", "", "", "0.0"],
    ]


def test_anonymised_rows_carry_pseudonyms_only():
    text = report.to_csv(report.rows(_hand_made(), anonymize=True))
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[1][:8] == ["alice", "1", "radcam_001", "0", "patient_1", "patient_1", "", "PA"]
    assert rows[1][13] == "clear, as patient_1's last film"  # the name the reader typed is replaced too
    assert rows[3][2] == "radcam_002"
    for secret in ("Doe", "Jane", "PID-1", "20240101", "/data", "a.dcm", "b.png"):
        assert secret.lower() not in text.lower(), secret



def test_anonymised_notes_carry_no_study_date():
    made = _hand_made()
    made.entries[0].findings["Nodule"] = dataclasses.replace(
        made.entries[0].findings["Nodule"], note="new since 20240101 (film of 2024-01-01, 01.01.2024, 2024/01/01)")
    text = report.to_csv(report.rows(made, anonymize=True))
    assert "2024" not in text and "new since [study date] (film of [study date]" in text

def test_two_readers_agreement_in_html(tmp_path):
    entries = worklist(write_pngs(tmp_path / "images", 25))
    alice = session(entries, "alice", COHEN_A, scores=ALL_PRESENT)
    bob = session(entries, "bob", COHEN_B, scores=ALL_PRESENT)
    built = report.build([(alice, None), (bob, None)])
    assert built.inter_reader() == ("Cohen", pytest.approx(0.4), 50)
    page = html_report(built)
    assert "Cohen's kappa" in page and "<b>0.400</b>" in page
    assert page.count(DATA_URI) == 25  # one thumbnail per image
    assert page.count('alt="image"') == 25 and "the session has no model" not in page
    assert "the session&#x27;s model file is not where the session says" in page or "is not at" in page
    # Each reader against the model: alice agrees with 25 of 50 calls, bob with 30; κ 0 for both, as the model
    # says present every time (no variation of its own to agree with beyond chance).
    assert re.search(r"<td>alice</td><td class=\"n\">50</td><td class=\"n\">25</td><td class=\"n\">25</td>"
                     r"<td class=\"n\">50.0 %</td><td class=\"n\">0.000</td>", page)
    assert re.search(r"<td>bob</td><td class=\"n\">50</td><td class=\"n\">30</td><td class=\"n\">20</td>"
                     r"<td class=\"n\">60.0 %</td><td class=\"n\">0.000</td>", page)
    # Model decision × verdict for alice, label "nodule" (always present): 13 agree, 12 disagree.
    assert "<tr><td>nodule</td><td class=\"n\">13</td><td class=\"n\">12</td><td class=\"n\">0</td>" in page
    # Self-contained: nothing fetched.
    assert not re.search(r"(src|href)=\"(?!data:)", page) and "<script" not in page and "<link" not in page


def test_bob_against_the_model_by_hand(tmp_path):
    entries = worklist(write_pngs(tmp_path / "images", 25))
    bob = report.build([(session(entries, "bob", COHEN_B), None)])
    # model present on even items (the first label); bob's call = model's where he agrees (0-19, 25-34).
    model = [index % 2 == 0 for index in range(50)]
    call = [m if COHEN_B[i] == "agree" else not m for i, m in enumerate(model)]
    both = sum(m and c for m, c in zip(model, call, strict=True)) / 50
    neither = sum(not m and not c for m, c in zip(model, call, strict=True)) / 50
    p_o = both + neither
    p_e = (sum(model) / 50) * (sum(call) / 50) + (1 - sum(model) / 50) * (1 - sum(call) / 50)
    result = bob.with_model(bob.readers[0])
    assert result.kappa == pytest.approx((p_o - p_e) / (1 - p_e))
    assert result.percent == pytest.approx(0.6)


def test_three_readers_use_fleiss(tmp_path):
    entries = worklist(write_pngs(tmp_path / "images", 6))
    verdicts = [["agree", "agree", "disagree", "uncertain", "agree", "agree"] * 2,
                ["agree", "disagree", "disagree", "uncertain", "agree", "agree"] * 2,
                ["agree", "agree", "disagree", "agree", "uncertain", None] * 2]
    sessions = [session(entries, name, v) for name, v in zip(("a", "b", "c"), verdicts, strict=True)]
    built = report.build([(s, None) for s in sessions])
    judged = [i for i in range(12) if all(v[i] for v in verdicts)]
    # each reader's call: the model's decision (present on even items, the first label) or its opposite
    calls = [[v[i] if v[i] == "uncertain" else ("present" if (i % 2 == 0) == (v[i] == "agree") else "absent")
              for i in judged] for v in verdicts]
    expected = fleiss_kappa(calls)
    kind, kappa, items = built.inter_reader()
    assert (kind, items) == ("Fleiss", len(judged)) and kappa == pytest.approx(expected)
    page = html_report(built, overlays=False)
    assert f"<b>{expected:.3f}</b>" in page and "Fleiss' kappa on the readers' calls" in page
    assert page.count(DATA_URI) == 6



def test_inter_reader_kappa_is_on_the_readers_calls(tmp_path):
    # Two readers who call 9 of 10 findings alike (model: present on half): on the calls (present / absent) the
    # chance agreement is 0.5 and κ = (0.9 - 0.5) / 0.5 = 0.8. On the verdicts (a reader agreeing with the model
    # on all 10) chance agreement was 0.9 and κ = 0: the readers' concordance hidden by how often the model is right.
    entries = worklist(write_pngs(tmp_path / "images", 5))
    alice = session(entries, "alice", ["disagree"] + ["agree"] * 9)
    bob = session(entries, "bob", ["agree"] * 10)
    kind, kappa, items = report.build([(alice, None), (bob, None)]).inter_reader()
    assert (kind, items) == ("Cohen", 10) and kappa == pytest.approx(0.8)

def test_one_reader_has_no_inter_reader_kappa(tmp_path):
    entries = worklist(write_pngs(tmp_path / "images", 2))
    built = report.build([(session(entries, "alice", ["agree"] * 4), None)])
    assert "Not enough readers" in html_report(built, overlays=False)
    assert "not enough readers (one session)" in report.summary_text(built)


def test_overlay_thumbnails_from_the_sessions_model(tmp_path):
    from viewer.app.session import file_sha256
    from viewer.model.loader import default_model_path

    model_path = default_model_path()
    model = SessionModel(str(model_path), file_sha256(model_path), "demo", LABELS)
    entries = worklist(write_pngs(tmp_path / "images", 2))
    built = report.build([(session(entries, "alice", ["agree"] * 4, model=model), None)])
    thumbs = thumbnails(built)
    assert [thumb.overlay for thumb in thumbs.values()] == [True, True]
    page = html_report(built, thumbs=thumbs)
    assert page.count('alt="overlay"') == 2 and page.count(DATA_URI) == 2


def test_a_changed_model_file_gives_the_plain_image_and_why(tmp_path):
    model_path = tmp_path / "model.keras"
    model_path.write_bytes(b"not the model the session was made with")
    entries = worklist(write_pngs(tmp_path / "images", 1))
    built = report.build([(session(entries, "alice", model=fake_model(path=str(model_path))), None)])
    (thumb,) = thumbnails(built).values()
    assert not thumb.overlay and thumb.png is not None and "has changed since the session was made" in thumb.why


def test_refusals(tmp_path):
    first = worklist(write_pngs(tmp_path / "one", 2, "one"))
    other = worklist(write_pngs(tmp_path / "two", 2, "two"))
    with pytest.raises(SessionError, match="share no image"):
        report.build([(session(first, "a"), None), (session(other, "b"), None)])
    with pytest.raises(SessionError, match="another model"):
        report.build([(session(first, "a"), None), (session(first, "b", model=fake_model("ef" * 32)), None)])
    no_model = session(first, "b")
    no_model.model = None
    with pytest.raises(SessionError, match="has no model"):
        report.build([(session(first, "a"), None), (no_model, None)])
    path = save(session(first, "a"), tmp_path / "a.radcam-session")
    with pytest.raises(SessionError, match="given twice"):
        report.load([path, tmp_path / "." / "a.radcam-session"])


def test_readers_without_names_or_with_the_same_name_are_told_apart(tmp_path):
    entries = worklist(write_pngs(tmp_path / "images", 1))
    built = report.build([(session(entries, ""), None), (session(entries, "x"), None), (session(entries, "x"), None)])
    assert [reader.name for reader in built.readers] == ["reader 1", "x", "x (2)"]


def test_pdf_of_the_report_has_every_page(tmp_path, qapp):
    import re as regex

    from viewer.ui.report_pdf import write_pdf

    entries = worklist(write_pngs(tmp_path / "images", 25))
    built = report.build([(session(entries, "alice", COHEN_A), None), (session(entries, "bob", COHEN_B), None)])
    path = write_pdf(html_report(built, overlays=False), tmp_path / "report.pdf")
    data = path.read_bytes()
    assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")
    pages = len(regex.findall(rb"/Type\s*/Page\b", data))
    assert pages >= 3, pages  # 25 images with their tables do not fit on one or two A4 pages
    assert regex.search(rb"/Count\s+%d\b" % pages, data)
    assert len(regex.findall(rb"/Subtype\s*/Image", data)) >= 25  # every thumbnail drawn
    assert not list(tmp_path.glob(".report.pdf*"))  # no temporary left


def test_notes_of_a_large_anonymised_session_are_cleaned_quickly():
    # One alternation of 60,000 names, IDs and paths took 80 ms a note (80 s for 1,000 notes, again for the HTML)
    import time

    names = report.Pseudonyms(anonymize=True)
    for number in range(10_000):
        names.learn(Entry(str(number), f"/data/study{number // 10}/IMG_{number:05d}.dcm", study_date="20240101",
                          patient_name=f"Doe{number // 10} Jane{number // 7}", patient_id=f"P{number // 10:05d}"))
    assert names.clean("Doe5 (P00005) as in IMG_00051.dcm, not Doe55x") == "patient_6 (patient_6) as in radcam_052, " \
                                                                          "not Doe55x"
    started = time.perf_counter()
    for number in range(1_000):
        names.clean(f"note {number}: nothing of the patient's here, just a note of about eighty characters")
    assert time.perf_counter() - started < 5


def test_a_very_long_path_in_a_note_is_replaced():
    names = report.Pseudonyms(anonymize=True)
    path = "/" + "/".join(["folder"] * 400) + "/a.dcm"
    names.learn(Entry("1", path, patient_id="P1"))
    assert names.clean(f"see {path}") == "see radcam_001"
