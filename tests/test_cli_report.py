"""`radcam-cli report`: files written, the summary, anonymised bytes, and one-line refusals."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest
from conftest import assert_one_line_error, run_cli, write_dicom
from report_sessions import fake_model, save, session, worklist, write_pngs

DATA_URI = 'src="data:image/png;base64,'


def _two_readers(tmp_path):
    entries = worklist(write_pngs(tmp_path / "images", 3))
    a = save(session(entries, "alice", ["agree", "agree", "disagree", "agree", "agree", "uncertain"]),
             tmp_path / "alice.radcam-session")
    b = save(session(entries, "bob", ["agree", "disagree", "disagree", "agree", "agree", "agree"]),
             tmp_path / "bob.radcam-session")
    return a, b


def test_csv_html_and_summary(tmp_path, capsys):
    a, b = _two_readers(tmp_path)
    code, out, err = run_cli(capsys, "report", a, b, "--csv", tmp_path / "r.csv", "--html", tmp_path / "r.html")
    assert (code, err) == (0, "")
    rows = list(csv.DictReader(io.StringIO((tmp_path / "r.csv").read_text(encoding="utf-8"))))
    assert len(rows) == 2 * 3 * 2  # readers × images × findings
    assert [row["verdict"] for row in rows if row["reader"] == "bob"] == ["agree", "disagree", "disagree", "agree",
                                                                        "agree", "agree"]
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert page.count(DATA_URI) == 3 and "Cohen&#x27;s" not in page and "Cohen's kappa" in page
    assert out.splitlines() == [f"wrote {tmp_path / 'r.csv'}", f"wrote {tmp_path / 'r.html'}"]
    code, out, err = run_cli(capsys, "report", a, b)
    assert code == 0 and err == ""
    assert "2 reader(s), 2 finding(s) per image, 3 image(s) in every session" in out
    # uncertain is a verdict too: all 6 findings count
    assert "inter-reader agreement (Cohen's kappa on 6 finding(s) every reader judged)" in out


def test_anonymised_report_holds_no_name_id_or_path(tmp_path, capsys):
    """Every byte written or printed, with a patient whose name is in the folder and file names and in a note."""
    secrets = ("Zyxwvuts", "Qponmlkj", "PIDX-7781-4455", "ZYXWVUTS_QPONMLKJ", "19450617")
    folder = tmp_path / "ZYXWVUTS_QPONMLKJ"
    folder.mkdir()
    pixels = (np.arange(64 * 64, dtype=np.uint16).reshape(64, 64) % 4096)
    paths = [write_dicom(folder / f"ZYXWVUTS_{n}.dcm", pixels, bits_stored=12, PatientName="Zyxwvuts^Qponmlkj",
                         PatientID="PIDX-7781-4455", StudyDate="19450617", Modality="DX") for n in range(2)]
    entries = worklist(paths)
    alice = session(entries, "alice", ["agree", "disagree"])
    alice.entries[0].findings["nodule"] = alice.entries[0].findings["nodule"].__class__(
        "agree", "as on Zyxwvuts's film of PIDX-7781-4455, see ZYXWVUTS_0.dcm", None, "t", "alice")
    a = save(alice, tmp_path / "alice.radcam-session")
    b = save(session(entries, "bob", ["agree", "agree"]), tmp_path / "bob.radcam-session")
    outputs = tmp_path / "out"
    outputs.mkdir()
    printed = []
    for extra in (["--csv", outputs / "r.csv", "--html", outputs / "r.html"], []):
        code, out, err = run_cli(capsys, "report", a, b, "--anonymize", *extra)
        assert code == 0, err
        printed.append(out + err)
    written = b"".join(path.read_bytes() for path in outputs.iterdir())
    assert (outputs / "r.html").read_text(encoding="utf-8").count(DATA_URI) == 2
    assert "radcam_001" in (outputs / "r.csv").read_text(encoding="utf-8")
    everything = written.decode("utf-8").lower() + "".join(printed).lower()
    for secret in (*secrets, str(tmp_path / "ZYXWVUTS_QPONMLKJ")):
        assert secret.lower() not in everything, secret


def test_refusals_are_one_line(tmp_path, capsys):
    a, b = _two_readers(tmp_path)
    damaged = tmp_path / "damaged.radcam-session"
    damaged.write_text('{"format": "radcam-session", "version": 1, "entries": [', encoding="utf-8")
    other = save(session(worklist(write_pngs(tmp_path / "other", 2, "other")), "carol"),
                 tmp_path / "carol.radcam-session")
    other_model = save(session(worklist(write_pngs(tmp_path / "images", 3)), "dave", model=fake_model("ef" * 32)),
                       tmp_path / "dave.radcam-session")
    (tmp_path / "exists.csv").write_text("keep me", encoding="utf-8")
    cases = [
        (["report", tmp_path / "missing.radcam-session"], "no such session file"),
        (["report", damaged], "is damaged"),
        (["report", a, other], "share no image"),
        (["report", a, other_model], "another model"),
        (["report", a, a], "given twice"),
        (["report", a, "--csv", tmp_path / "exists.csv"], "exists; use --overwrite"),
        (["report", a, "--html", tmp_path / "no" / "r.html"], "does not exist"),
        (["report", a, "--csv", tmp_path / "same", "--html", tmp_path / "same"], "same file"),
        (["report", a, b, "--csv", b, "--overwrite"], "is one of the sessions"),  # a reader's work kept
        (["report"], "the following arguments are required"),
    ]
    for argv, message in cases:
        code, out, err = run_cli(capsys, *argv)
        assert_one_line_error(code, err)
        assert message in err, (argv, err)
    assert (tmp_path / "exists.csv").read_text(encoding="utf-8") == "keep me"
    code, _, err = run_cli(capsys, "report", a, "--csv", tmp_path / "exists.csv", "--overwrite")
    assert code == 0 and (tmp_path / "exists.csv").read_text(encoding="utf-8").startswith("reader,entry")


def test_help_says_what_it_does_prints_and_exits_with(capsys):
    with pytest.raises(SystemExit) as exited:
        run_cli(capsys, "report", "--help")
    assert exited.value.code == 0
    stdout = capsys.readouterr().out
    assert "What the readers decided" in stdout and "Cohen's kappa between two readers, Fleiss'" in stdout
    assert "exit status: 0 written; 2 bad input" in stdout and "example:\n  radcam-cli report " in stdout
