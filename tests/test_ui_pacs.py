"""The viewer's PACS (issue 18) against a real Orthanc: the preferences' nodes and Test, the PACS dock's search,
retrieve with progress into the worklist, Cancel and a PACS that dies mid-retrieve leave nothing shown as complete
and Retrieve resumes, a password asked once per session, Send to PACS with per-instance results (anonymised on the
wire when asked), and the window never waits for the network."""

import gc
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from conftest import dimse_node, main_window, needs_orthanc, web_node, write_dicom  # noqa: E402
from pydicom.uid import generate_uid  # noqa: E402
from PySide6.QtCore import QTimer  # noqa: E402
from PySide6.QtWidgets import QPushButton  # noqa: E402

from viewer.pacs.cache import PacsCache  # noqa: E402
from viewer.pacs.nodes import Node, NodeStore  # noqa: E402

pytestmark = needs_orthanc
TIMEOUT_MS = 60_000
EXPLAIN_TIMEOUT_MS = 180_000
KINDS = ["sc", "gsps", "pmap"]  # Send to PACS: Secondary Capture, presentation state, Parametric Map


@pytest.fixture(autouse=True)
def private_folders(tmp_path, monkeypatch):
    """The nodes file and the cache in the test's own folders, never the user's."""
    monkeypatch.setenv("RADCAM_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("RADCAM_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture
def no_keyring():
    """No usable keyring (keyring's fail backend): secrets live in this session's memory only."""
    import keyring
    from keyring.backends import fail

    before = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    yield
    keyring.set_keyring(before)


@pytest.fixture
def window(qtbot, tmp_path):
    with main_window(qtbot, tmp_path) as win:
        qtbot.waitExposed(win)
        yield win


def make_study(folder: Path, count: int, **attributes) -> tuple[str, list[Path]]:
    """`count` small CR instances of one new study for one new patient; (patient ID, paths)."""
    folder.mkdir(parents=True, exist_ok=True)
    patient = f"E5-{uuid.uuid4().hex[:10]}"
    study, series = generate_uid(), generate_uid()
    rng = np.random.default_rng(count)
    paths = [write_dicom(folder / f"{number}.dcm", rng.integers(0, 4000, (96, 96), dtype=np.uint16),
                         bits_stored=12, StudyInstanceUID=study, SeriesInstanceUID=series, InstanceNumber=number + 1,
                         PatientID=patient, PatientName="Pacs^Tester", Modality="CR", AccessionNumber="E5ACC1",
                         StudyDescription="E5 chest", **attributes)
             for number in range(count)]
    return patient, paths


def configure(*nodes: Node) -> None:
    store = NodeStore()
    for node in nodes:
        store.put(node)


class SlowCache(PacsCache):
    """The real cache, `delay` seconds slower per instance: a retrieve long enough to be cancelled or killed."""

    def __init__(self, root: Path, delay: float):
        super().__init__(root, limit_bytes=1 << 40)
        self.delay, self.puts = delay, 0

    def put(self, ds):
        path = super().put(ds)
        self.puts += 1
        time.sleep(self.delay)
        return path


def search(qtbot, win, patient: str, node: str, rows: int = 1) -> None:
    panel = win.pacs.panel
    win.pacs.show_dock(True)
    panel.node.setCurrentText(node)
    panel.patient_id.setText(patient)
    panel.set_matches([], {})
    panel.search.click()
    qtbot.waitUntil(lambda: panel.table.rowCount() == rows and bool(panel.matches), timeout=TIMEOUT_MS)


def worklist_uids(win) -> set[str]:
    session = win.review_state.session
    return {entry.sop_instance_uid for entry in session.entries} if session is not None else set()


def uids_of(paths: list[Path]) -> set[str]:
    from pydicom import dcmread

    return {str(dcmread(path, stop_before_pixels=True).SOPInstanceUID) for path in paths}


class Ticks:
    """The UI thread's heartbeat: the longest gap between 20 ms timer ticks while it runs."""

    def __init__(self):
        # A full collection owed by the thousands of tests before (0.5-0.7 s over their heap in CI) is not the
        # window's stall: pay it before the heartbeat starts.
        gc.collect()
        self.last, self.longest = time.perf_counter(), 0.0
        self.timer = QTimer()
        self.timer.timeout.connect(self._tick)
        self.timer.start(20)

    def _tick(self):
        now = time.perf_counter()
        self.longest, self.last = max(self.longest, now - self.last), now

    def stop(self) -> float:
        self.timer.stop()
        return self.longest


# -- preferences ---------------------------------------------------------------------------------------------------

def test_preferences_add_edit_remove_and_test_a_node(qtbot, window, orthanc, tmp_path, no_keyring):
    from viewer.bench.orthanc import free_port
    from viewer.ui.pacs_prefs import NodeDialog

    dialog = window.pacs.preferences()
    page = dialog.nodes_page
    form = NodeDialog(None, page)
    form.name.setText("pacs")
    form.ae_title.setText(orthanc.aet)
    form.accept()  # no host: refused in one line, nothing saved
    assert form.node is None and "needs a host" in form.error.text()
    form.host.setText("127.0.0.1")
    form.port.setValue(orthanc.dicom_port)
    form.accept()
    assert page.add(form)
    assert list(NodeStore().nodes) == ["pacs"] and window.pacs.panel.node.currentText() == "pacs"

    page.test_button.click()
    qtbot.waitUntil(lambda: "answered in" in page.result.text(), timeout=TIMEOUT_MS)

    closed = NodeDialog(NodeStore().get("pacs"), page)  # a port nobody listens on: one line, the page stays usable
    closed.name.setText("closed")
    closed.port.setValue(free_port())
    closed.accept()
    assert page.edit(closed)
    assert list(NodeStore().nodes) == ["closed"]
    started = time.perf_counter()
    page.test_button.click()
    assert time.perf_counter() - started < 0.5  # the echo runs off the UI thread
    qtbot.waitUntil(lambda: page.test_button.isEnabled(), timeout=TIMEOUT_MS)
    message = page.result.text()
    assert "closed" in message and "\n" not in message and "Traceback" not in message and "answered" not in message

    web = NodeDialog(None, page)  # a DICOMweb node: its password goes to the session, never into the file
    web.name.setText("web")
    web.kind.setCurrentIndex(web.kind.findData("dicomweb"))
    web.url.setText(orthanc.dicomweb_url)
    web.auth.setCurrentIndex(web.auth.findData("basic"))
    web.username.setText(orthanc.username)
    web.password.setText(orthanc.password)
    web.accept()
    assert page.add(web)
    assert "this session only" in page.result.text()
    assert orthanc.password not in (tmp_path / "config" / "pacs.json").read_text()
    select(page, "web")
    page.test_button.click()
    qtbot.waitUntil(lambda: "answered in" in page.result.text(), timeout=TIMEOUT_MS)

    renamed = NodeDialog(NodeStore().get("web"), page)  # renamed, password not typed again: it follows the node
    renamed.name.setText("web2")
    renamed.accept()
    assert page.edit(renamed)
    page.result.setText("")
    page.test_button.click()
    qtbot.waitUntil(lambda: "answered in" in page.result.text(), timeout=TIMEOUT_MS)

    select(page, "closed")
    page.confirm = lambda _text: True  # Remove asks first
    page.remove()
    assert "closed" not in NodeStore().nodes
    assert [window.pacs.panel.node.itemText(i) for i in range(window.pacs.panel.node.count())] == ["web2"]
    select(page, "web2")
    page.remove()  # its password goes with it
    from viewer.pacs.credentials import secret_for

    assert secret_for(web_node(orthanc, name="web2")) is None and secret_for(web_node(orthanc, name="web")) is None
    assert not NodeStore().nodes


def test_the_pacs_dock_is_where_it_was_left(qtbot, tmp_path):
    from PySide6.QtCore import QSettings

    from viewer.ui.settings import Settings

    settings = Settings(QSettings(str(tmp_path / "radcam.ini"), QSettings.Format.IniFormat))
    with main_window(qtbot, tmp_path / "one", settings=settings) as win:
        assert win.pacs.dock.isHidden() and not win.pacs.dock_action.isChecked()
        win.pacs.dock_action.trigger()  # View → PACS Query and Retrieve
        assert not win.pacs.dock.isHidden() and win.pacs.dock_action.isChecked()
        win.save_settings()
    with main_window(qtbot, tmp_path / "two", settings=settings) as win:
        assert not win.pacs.dock.isHidden() and win.pacs.dock_action.isChecked()
        win.pacs.dock.close()  # its title bar's close button
        assert not win.pacs.dock_action.isChecked()


def test_an_unreadable_nodes_file_is_one_message_wherever_it_is_read(qtbot, window, tmp_path):
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "pacs.json").write_text("{not json", encoding="utf-8")
    errors: list[str] = []
    window.errorReported.connect(errors.append)
    window.pacs.show_dock(True)
    assert window.pacs.preferences() is None
    window.pacs.panel.search.click()
    assert window.pacs.retrieve("any", ["1.2.3"]) is None
    assert len(errors) == 4 and all(e.startswith("cannot read the PACS configuration") for e in errors), errors


def select(page, name: str) -> None:
    names = [page.list.item(row).text().split(" ")[0] for row in range(page.list.count())]
    page.list.setCurrentRow(names.index(name))


def test_send_to_pacs_asks_which_node_and_objects(qtbot, window, orthanc):
    from viewer.ui.pacs_send import SendDialog

    errors: list[str] = []
    window.errorReported.connect(errors.append)
    window.pacs.send_dialog()  # nothing explained: one line, no dialog
    assert errors == ["Nothing to send: explain an image first"]
    assert any(action.text() == "Send to &PACS…" for _menu, action in window.menus.all_actions())
    dialog = SendDialog(["a", "b"], anonymous=True, parent=window)
    assert dialog.kinds() == ["sc", "gsps"] and dialog.anonymize() and not dialog.anonymous.isEnabled()
    for box in dialog.boxes.values():
        box.setChecked(False)
    assert not [button for button in dialog.findChildren(QPushButton) if button.text() == "Send"][0].isEnabled()
    dialog.boxes["pmap"].setChecked(True)
    assert dialog.kinds() == ["pmap"] and SendDialog(["a"], anonymous=False).anonymous.isEnabled()


# -- search and retrieve -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("via", ["get", "move"])
def test_search_shows_the_study_and_retrieve_opens_it_into_the_worklist(qtbot, window, orthanc, tmp_path, via):
    patient, paths = make_study(tmp_path / "study", 3)
    orthanc.upload(paths)
    configure(dimse_node(orthanc, retrieve=via))  # C-GET, or C-MOVE to RadCAM's own Storage SCP
    search(qtbot, window, patient, "orthanc-dimse")
    panel = window.pacs.panel
    row = [panel.table.item(0, column).text() for column in range(panel.table.columnCount())]
    assert row[:4] == ["Pacs Tester", patient, "2024-01-01", "E5ACC1"] and row[-1] == ""
    assert "E5 chest" in row

    fractions: list[float] = []
    window.pacs.transfer_thread.progressed.connect(lambda _id, fraction: fractions.append(fraction))
    ticks = Ticks()
    panel.retrieve.click()
    assert panel.progress.isVisible() and panel.cancel.isVisible()
    qtbot.waitUntil(lambda: worklist_uids(window) == uids_of(paths), timeout=TIMEOUT_MS)
    assert ticks.stop() < 0.5
    assert fractions and fractions[-1] == 1.0
    assert panel.state_text(panel.matches[0].study_uid) == "in cache"
    assert not panel.progress.isVisible() and "3 instance(s)" in panel.status_text()
    entries = window.review_state.session.entries
    assert all(Path(entry.path).is_relative_to(tmp_path / "cache") for entry in entries)

    window.state.anonymous = True  # the results table follows Anonymise Display
    assert panel.table.item(0, 0).text() == "—" and panel.table.item(0, 1).text() == "—"

    box = window.pacs.preferences().cache_box  # Preferences: the cache's limit and Clear
    qtbot.waitUntil(lambda: box.text.text().startswith("1 study"), timeout=TIMEOUT_MS)
    box.limit.setValue(2048)
    box.limit.editingFinished.emit()
    assert NodeStore().cache_limit_mb == 2048 and window.pacs.cache.limit_bytes == 2048 * 1024 * 1024
    box.confirm = lambda _text: True  # Clear asks first
    box.clear.click()
    qtbot.waitUntil(lambda: box.text.text().startswith("Removed 1; 0 studies"), timeout=TIMEOUT_MS)
    assert panel.state_text(panel.matches[0].study_uid) == ""


def test_cancel_leaves_the_study_partial_and_retrieve_resumes(qtbot, window, orthanc, tmp_path):
    patient, paths = make_study(tmp_path / "study", 8)
    orthanc.upload(paths)
    configure(dimse_node(orthanc))
    cache = window.pacs.cache = SlowCache(tmp_path / "cache", delay=0.3)
    search(qtbot, window, patient, "orthanc-dimse")
    panel = window.pacs.panel
    study = panel.matches[0].study_uid
    ticks = Ticks()
    panel.retrieve.click()
    qtbot.waitUntil(lambda: cache.puts >= 2, timeout=TIMEOUT_MS)
    errors: list[str] = []
    window.errorReported.connect(errors.append)
    assert window.pacs.retrieve("orthanc-dimse", [study]) is None  # one transfer at a time, said in one line
    assert errors == ["A PACS retrieve or send is running: wait for it or cancel it first"]
    panel.cancel.click()
    qtbot.waitUntil(lambda: window.pacs.transfer is None, timeout=TIMEOUT_MS)
    assert ticks.stop() < 0.5  # 0.3 s per instance on the transfer thread; the UI thread never waited for it
    assert cache.puts < 8 and not cache.is_complete(study)
    assert panel.state_text(study).startswith("partial") and "cancelled" in panel.status_text().lower()
    assert worklist_uids(window) == set()  # nothing half-retrieved was opened

    cache.delay = 0.0
    panel.retrieve.click()
    qtbot.waitUntil(lambda: worklist_uids(window) == uids_of(paths), timeout=TIMEOUT_MS)
    retrieved = window.pacs.last_retrieved
    assert retrieved.reused >= 2 and retrieved.fetched == 8 - retrieved.reused  # only what was missing
    assert panel.state_text(study) == "in cache" and cache.is_complete(study)


def test_a_pacs_stopped_mid_retrieve_is_one_message_partial_and_resumes(qtbot, window, orthanc_factory, tmp_path):
    server = orthanc_factory()
    patient, paths = make_study(tmp_path / "study", 6)
    server.upload(paths)
    configure(dimse_node(server, name="dying"))
    cache = window.pacs.cache = SlowCache(tmp_path / "cache", delay=0.3)
    errors: list[str] = []
    window.errorReported.connect(errors.append)
    search(qtbot, window, patient, "dying")
    panel = window.pacs.panel
    study = panel.matches[0].study_uid
    panel.retrieve.click()
    qtbot.waitUntil(lambda: cache.puts >= 2, timeout=TIMEOUT_MS)
    server.kill()
    qtbot.waitUntil(lambda: window.pacs.transfer is None, timeout=TIMEOUT_MS)
    assert len(errors) == 1 and "dying" in errors[0] and "Traceback" not in errors[0]
    assert "resume" in errors[0]
    assert panel.state_text(study).startswith("partial") and not cache.is_complete(study)
    assert worklist_uids(window) == set()

    server.restart()
    cache.delay = 0.0
    panel.retrieve.click()
    qtbot.waitUntil(lambda: worklist_uids(window) == uids_of(paths), timeout=TIMEOUT_MS)
    assert window.pacs.last_retrieved.reused >= 2 and panel.state_text(study) == "in cache"


def test_a_dicomweb_password_is_asked_once_per_session(qtbot, window, orthanc, tmp_path, no_keyring):
    from viewer.pacs.credentials import forget_secret

    patient, paths = make_study(tmp_path / "study", 2)
    orthanc.upload(paths)
    node = web_node(orthanc)
    configure(node)
    errors: list[str] = []
    window.errorReported.connect(errors.append)
    window.pacs.show_dock(True)
    window.pacs.panel.patient_id.setText(patient)
    window.pacs.panel.search.click()  # headless: nobody to ask, so one clear line and nothing sent
    assert errors and "needs a password" in errors[-1] and orthanc.password not in errors[-1]
    asked: list[str] = []
    window.pacs._ask_secret = lambda n: asked.append(n.name) or orthanc.password
    try:
        search(qtbot, window, patient, "orthanc-web")
        search(qtbot, window, patient, "orthanc-web")  # the second search uses the remembered password
        window.pacs.panel.retrieve.click()  # WADO-RS with the remembered password
        qtbot.waitUntil(lambda: worklist_uids(window) == uids_of(paths), timeout=TIMEOUT_MS)
        assert asked == ["orthanc-web"]
    finally:
        forget_secret(node)


# -- send ----------------------------------------------------------------------------------------------------------

def test_send_to_pacs_shows_per_instance_results_and_anonymises_on_the_wire(qtbot, orthanc, tmp_path):
    from viewer.assets import resource_path
    from viewer.model import default_model_path

    if not default_model_path().is_file():
        pytest.skip("the shipped demo model is absent (scripts/train_demo_model.py makes it)")
    study = resource_path("demo", "demo_cr_nodule.dcm")
    configure(dimse_node(orthanc))
    with main_window(qtbot, tmp_path) as win:
        errors: list[str] = []
        win.errorReported.connect(errors.append)
        assert win.pacs.send("unconfigured", ["sc"], False) is None  # nothing goes to a node that is not set up
        assert "no PACS node named 'unconfigured'" in errors[-1]
        with qtbot.waitSignal(win.explanationShown, timeout=EXPLAIN_TIMEOUT_MS):
            win.load_model(default_model_path())
            win.open_paths([study])
        qtbot.waitUntil(lambda: not win.model_thread.busy(), timeout=EXPLAIN_TIMEOUT_MS)

        def sent(anonymize: bool) -> list[dict]:
            before = {item["ID"] for item in orthanc.instances()}
            win.pacs.last_sent = None
            assert win.pacs.send("orthanc-dimse", KINDS, anonymize) is not None
            qtbot.waitUntil(lambda: win.pacs.last_sent is not None, timeout=TIMEOUT_MS)
            results = win.pacs.last_sent.results
            table = win.pacs.panel.sent
            assert table.rowCount() == len(results) == len(KINDS)
            assert all(table.item(row, 1).text() == "stored" for row in range(table.rowCount()))
            new = [item for item in orthanc.instances() if item["ID"] not in before]
            assert {item["MainDicomTags"]["SOPInstanceUID"] for item in new} == {r.sop_instance_uid for r in results}
            return new

        plain = sent(False)
        assert all(b"RADCAM-DEMO-0001" in orthanc.instance_file(item["ID"]) for item in plain)
        anonymous = sent(True)
        for item in anonymous:
            data = orthanc.instance_file(item["ID"])
            assert b"RADCAM-DEMO-0001" not in data and b"DEMO^SYNTHETIC" not in data
            assert b"demo_cr_nodule" not in data
        assert not list(Path(tempfile.gettempdir()).glob("radcam-send-*"))  # the temporary folder is gone



def test_the_screenshot_script_says_a_bad_folder_in_one_line_before_the_work(tmp_path):
    import subprocess
    import sys

    script = Path(__file__).resolve().parents[1] / "scripts" / "make_pacs_screenshot.py"
    done = subprocess.run([sys.executable, str(script), str(tmp_path / "no" / "pacs.png")], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2 and done.stdout == "", done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and done.stderr.startswith("make_pacs_screenshot: error:")


def test_a_study_open_in_the_worklist_is_never_evicted_by_the_next_retrieve(qtbot, window, orthanc, tmp_path):
    """Each retrieve evicts the cache down to its limit: a study the reader has open in the worklist stays (its files
    gone would make every image of it an error), however small the limit."""
    first_patient, first = make_study(tmp_path / "first", 2)
    second_patient, second = make_study(tmp_path / "second", 2)
    orthanc.upload(first + second)
    configure(dimse_node(orthanc))
    cache = window.pacs.cache = PacsCache(tmp_path / "cache", limit_bytes=1)  # smaller than any study
    search(qtbot, window, first_patient, "orthanc-dimse")
    window.pacs.panel.retrieve.click()
    qtbot.waitUntil(lambda: worklist_uids(window) == uids_of(first), timeout=TIMEOUT_MS)
    first_study = window.pacs.panel.matches[0].study_uid
    search(qtbot, window, second_patient, "orthanc-dimse")
    window.pacs.panel.retrieve.click()
    qtbot.waitUntil(lambda: worklist_uids(window) == uids_of(first + second), timeout=TIMEOUT_MS)
    assert cache.is_complete(first_study)
    assert all(Path(entry.path).is_file() for entry in window.review_state.session.entries)


def test_esc_cancels_a_running_pacs_transfer_when_no_other_job_shows_progress(qtbot, window, orthanc, tmp_path):
    """Explain → Cancel Job (Esc) stops what runs: the status bar's job first, else the dock's retrieve or send (it
    did nothing to a retrieve, whose only Cancel was the dock's)."""
    patient, paths = make_study(tmp_path / "study", 8)
    orthanc.upload(paths)
    configure(dimse_node(orthanc))
    cache = window.pacs.cache = SlowCache(tmp_path / "cache", delay=0.3)
    search(qtbot, window, patient, "orthanc-dimse")
    window.pacs.panel.retrieve.click()
    qtbot.waitUntil(lambda: cache.puts >= 1, timeout=TIMEOUT_MS)
    from PySide6.QtGui import QAction

    (cancel_job,) = [action for action in window.findChildren(QAction) if action.text() == "&Cancel Job"]
    cancel_job.trigger()
    qtbot.waitUntil(lambda: window.pacs.transfer is None, timeout=TIMEOUT_MS)
    assert cache.puts < 8 and "cancelled" in window.pacs.panel.status_text().lower()


def test_anonymise_display_hides_what_was_typed_in_the_search_too(qtbot):
    """Under Anonymise Display the dock shows no patient data: the patient ID, name and accession typed into the
    search are masked as well as the matches' columns (shown again while edited, and when it is turned off)."""
    from viewer.ui.pacs_panel import PacsPanel

    panel = PacsPanel()
    qtbot.addWidget(panel)
    for line, text in ((panel.patient_id, "PAT-1234"), (panel.patient_name, "DOE^JANE"),
                       (panel.accession, "ACC99")):
        line.setText(text)
    panel.set_anonymous(True)
    for line, text in ((panel.patient_id, "PAT-1234"), (panel.patient_name, "DOE^JANE"),
                       (panel.accession, "ACC99")):
        assert text not in line.displayText() and line.text() == text  # the search still uses it
    assert panel.query().patient_id == "PAT-1234"
    panel.set_anonymous(False)
    assert panel.patient_name.displayText() == "DOE^JANE"


def test_preferences_ask_before_removing_a_node_or_clearing_the_cache(qtbot, tmp_path):
    """Remove and Clear cache cannot be undone: each asks first (No does nothing); a failed Test's red does not
    colour the next news."""
    from viewer.ui.pacs_controller import Secrets
    from viewer.ui.pacs_prefs import CacheBox, PacsNodesPage

    configure(Node(name="main", kind="dimse", ae_title="PACS", host="127.0.0.1", port=1))
    store = NodeStore()
    page = PacsNodesPage(store, lambda _node, show: show(False, "main: connection refused"), Secrets())
    qtbot.addWidget(page)
    asked: list[str] = []
    page.confirm = lambda text: asked.append(text) or False
    page.remove()
    assert "main" in NodeStore().nodes and "Remove the PACS node main?" in asked[0]
    page.run_test()
    assert "red" in page.result.styleSheet() or "#d04040" in page.result.styleSheet()
    page.confirm = lambda _text: True
    page.remove()
    assert "main" not in NodeStore().nodes and page.result.text() == "Removed main." and page.result.styleSheet() == ""
    cleared: list[bool] = []
    box = CacheBox(store, lambda clear, show: cleared.append(clear), lambda _mb: None)
    qtbot.addWidget(box)
    box.confirm = lambda _text: False
    box.clear.click()
    assert cleared == [False]  # only the first look at what it holds
    box.confirm = lambda _text: True
    box.clear.click()
    assert cleared == [False, True]


def test_the_node_dialog_offers_only_what_its_choices_use(qtbot):
    """Our C-MOVE port only for C-MOVE (C-GET needs no inbound port), a user name only for Basic, a password or
    token only when the node authenticates."""
    from viewer.ui.pacs_prefs import NodeDialog

    dialog = NodeDialog(None)
    qtbot.addWidget(dialog)
    dialog.retrieve.setCurrentIndex(dialog.retrieve.findData("get"))
    assert not dialog.move_port.isEnabled()
    dialog.retrieve.setCurrentIndex(dialog.retrieve.findData("move"))
    assert dialog.move_port.isEnabled()
    for auth, username, password in (("none", False, False), ("basic", True, True), ("bearer", False, True)):
        dialog.auth.setCurrentIndex(dialog.auth.findData(auth))
        assert (dialog.username.isEnabled(), dialog.password.isEnabled()) == (username, password), auth
    edited = NodeDialog(Node(name="web", kind="dicomweb", url="https://pacs.example.org/dicom-web"))
    qtbot.addWidget(edited)
    assert not edited.username.isEnabled() and not edited.password.isEnabled()  # no authentication: nothing asked


def test_the_matches_sort_by_any_column_and_retrieve_what_is_selected(qtbot):
    """A click on a column header sorts the matches (dates as dates, image counts as numbers, still under
    Anonymise Display where the dates are hidden); Retrieve and the cache states follow the rows wherever they
    moved."""
    from PySide6.QtCore import Qt

    from viewer.pacs.client import StudyMatch
    from viewer.ui.pacs_panel import COLUMNS, PacsPanel

    panel = PacsPanel()
    qtbot.addWidget(panel)
    matches = [StudyMatch("1.1", "B^PAT", "P2", study_date="20240105", instance_count=9),
               StudyMatch("1.2", "A^PAT", "P1", study_date="20231231", instance_count=10),
               StudyMatch("1.3", "C^PAT", "P3", study_date="20240201", instance_count=2)]
    panel.set_matches(matches, {"1.2": "complete"})
    column = {name: COLUMNS.index(name) for name in ("Patient", "Images", "Date")}

    def rows(name: str) -> list[str]:
        return [panel.table.item(row, column[name]).text() for row in range(panel.table.rowCount())]

    assert rows("Date") == ["2024-02-01", "2024-01-05", "2023-12-31"]  # the newest first
    panel.table.sortItems(column["Images"], Qt.SortOrder.DescendingOrder)
    assert rows("Images") == ["10", "9", "2"]  # as numbers, not text
    panel.table.sortItems(column["Patient"], Qt.SortOrder.AscendingOrder)
    assert rows("Patient") == ["A PAT", "B PAT", "C PAT"]
    panel.table.selectRow(0)
    assert panel.selected_uids() == ["1.2"] and panel.state_text("1.2") == "in cache" and panel.row_of("1.3") == 2
    assert panel.row_of("9.9") == -1 and panel.state_text("9.9") == ""
    panel.set_states({"1.3": "partial"})
    assert panel.table.item(2, COLUMNS.index("Cache")).text().startswith("partial")
    panel.set_anonymous(True)
    panel.table.sortItems(column["Date"], Qt.SortOrder.AscendingOrder)
    assert rows("Date") == ["—"] * 3 and rows("Images") == ["10", "9", "2"]  # the hidden dates still sort


def test_the_last_send_names_no_file_under_anonymise_display(qtbot):
    """File names are often patient names: under Anonymise Display the last send's table says which object each
    was (and its number), never the file's name; its name is back when the display is."""
    from viewer.pacs.client import SendResult
    from viewer.ui.pacs_panel import PacsPanel

    panel = PacsPanel()
    qtbot.addWidget(panel)
    results = [SendResult(Path(f"/exports/Doe_Jane_chest{suffix}"), f"1.2.{n}", True)
               for n, suffix in enumerate(("_overlay_sc.dcm", "_gsps.dcm", "_pmap.dcm"))]
    panel.set_sent(results)

    def cells() -> list[str]:
        return [panel.sent.item(row, 0).text() for row in range(panel.sent.rowCount())]

    assert cells()[1] == "Doe_Jane_chest_gsps.dcm"
    panel.set_anonymous(True)
    assert not any("Doe" in text or "Jane" in text for text in cells())
    assert cells() == ["1: Secondary Capture", "2: Presentation State", "3: Parametric Map"]
    panel.set_sent(results)  # a send that ends while anonymised
    assert not any("Doe" in text for text in cells())
    panel.set_anonymous(False)
    assert cells()[0] == "Doe_Jane_chest_overlay_sc.dcm"


def test_send_to_pacs_says_an_anonymised_presentation_state_has_no_original_there(qtbot):
    """Anonymised, the presentation state and the map reference a pseudonymous copy of the original (new UIDs)
    that the PACS does not hold: a PACS viewer cannot show them over the original. The dialog says so while those
    objects and Anonymise are chosen."""
    from viewer.ui.pacs_send import SendDialog

    dialog = SendDialog(["pacs"], False)
    qtbot.addWidget(dialog)
    dialog.show()
    assert not dialog.orphan_note.isVisible()
    dialog.anonymous.setChecked(True)
    assert dialog.orphan_note.isVisible() and "pseudonymous" in dialog.orphan_note.text()
    dialog.boxes["gsps"].setChecked(False)
    assert not dialog.orphan_note.isVisible()  # a Secondary Capture stands on its own
    dialog.boxes["pmap"].setChecked(True)
    assert dialog.orphan_note.isVisible()
    locked = SendDialog(["pacs"], True)  # under Anonymise Display: said at once
    qtbot.addWidget(locked)
    locked.show()
    assert locked.orphan_note.isVisible()
