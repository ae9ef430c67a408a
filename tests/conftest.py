"""Shared test helpers: where the real test material is, and a writer for small generated DICOM files."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from keyring.backend import KeyringBackend
from keyring.errors import PasswordDeleteError
from pydicom import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

# Real test material lives beside the checkout (../shared/fixtures), never inside it.
FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures"

needs_fixtures = pytest.mark.skipif(
    not FIXTURES.is_dir(), reason="../shared/fixtures is absent (real test material lives beside the checkout)"
)


def run_cli(capsys, *argv):
    """radcam-cli in this process: (exit code, stdout, stderr)."""
    from viewer.cli.main import main

    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code, err):
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("radcam: error: ")
    assert "Traceback" not in err


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return FIXTURES


def write_dicom(path: Path, pixels: np.ndarray | None, photometric: str = "MONOCHROME2",
                bits_stored: int | None = None, **attributes) -> Path:
    """A minimal but valid DICOM file (explicit VR little endian) holding `pixels`, plus `attributes`."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.PatientName = "Test^Patient"
    ds.PatientID = "P1"
    ds.StudyDate = "20240101"
    ds.StudyTime = "120000"
    ds.StudyID = "1"
    ds.Modality = "OT"
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    if pixels is not None:
        ds.set_pixel_data(pixels, photometric, bits_stored or pixels.dtype.itemsize * 8,
                          generate_instance_uid=False)
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.save_as(path, enforce_file_format=True)
    return path


@pytest.fixture
def make_dicom(tmp_path):
    """write_dicom into tmp_path: make_dicom('name.dcm', pixels, **attributes) -> Path."""
    return lambda name, pixels, **kw: write_dicom(tmp_path / name, pixels, **kw)


def write_media(sources: Path, media: Path) -> Path:
    """DICOM media as pydicom's FileSet writes them (DICOMDIR + PT000000/... folders) from every .dcm under
    `sources`."""
    from pydicom import dcmread
    from pydicom.fileset import FileSet

    fileset = FileSet()
    for path in sorted(sources.rglob("*.dcm")):
        fileset.add(dcmread(path))
    fileset.write(media)
    return media


@contextmanager
def main_window(qtbot, tmp_path: Path, size: tuple[int, int] | None = (1400, 800), settings=None):
    """A shown viewer window for pytest-qt tests: its own settings file, headless (no question boxes), shut down
    after the test. Qt is imported here, not at the top: most tests never open a window."""
    from PySide6.QtCore import QSettings

    from viewer.ui.main_window import MainWindow
    from viewer.ui.settings import Settings

    win = MainWindow(settings or Settings(QSettings(str(tmp_path / "radcam.ini"), QSettings.Format.IniFormat)))
    win.headless = True
    qtbot.addWidget(win)
    if size is not None:
        win.resize(*size)
    win.show()
    try:
        yield win
    finally:
        win.shutdown()


@pytest.fixture
def exposed_window(qtbot, tmp_path):
    """main_window() at its default size, waited for until it is on screen."""
    with main_window(qtbot, tmp_path) as win:
        qtbot.waitExposed(win)
        yield win


def opened(qtbot, win, path):
    """`win` after opening `path`, once the original panel shows it."""
    win.open_paths([str(path)])
    qtbot.waitUntil(lambda: win.state.image is not None and win.views["original"].has_image(), timeout=30_000)
    return win


@pytest.fixture(scope="module")
def demo_engine():
    """A CamEngine on the shipped demo model, one per test module; skips when the model is absent."""
    from viewer.model import default_model_path

    if not default_model_path().is_file():
        pytest.skip("the shipped demo model is absent (scripts/train_demo_model.py makes it)")
    from viewer.cam import CamEngine
    from viewer.model import load_model

    return CamEngine(load_model(default_model_path()))


# -- a real local Ray (tests/test_cluster.py, test_cluster_predict.py): 127.0.0.1, 2 CPUs, one start per module ----

@pytest.fixture(scope="module")
def cluster():
    ray = pytest.importorskip("ray")
    if ray.is_initialized():
        ray.shutdown()
    import signal

    previous = signal.getsignal(signal.SIGTERM)  # ray.init replaces it: the tests after these keep theirs
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False,
             _node_ip_address="127.0.0.1")
    signal.signal(signal.SIGTERM, previous)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def model_args():
    """load_model's arguments for the shipped demo model, as each Ray actor loads it."""
    from viewer.model import default_model_path

    if not default_model_path().is_file():
        pytest.skip("the shipped demo model is absent (scripts/train_demo_model.py makes it)")
    return {"path": default_model_path(), "unsafe": False, "overrides": {}}


def write_films(folder: Path, count: int) -> list[Path]:
    """`count` small distinct chest-film-like PNGs (a bright field with a dark blob that moves): cheap to explain."""
    import cv2

    rng = np.random.default_rng(19)
    paths = []
    for i in range(count):
        y, x = np.mgrid[0:256, 0:256]
        blob = np.exp(-(((x - 40 - 3 * i) ** 2 + (y - 128) ** 2) / 900.0))
        pixels = np.clip(160 + 60 * blob + rng.normal(0, 8, (256, 256)), 0, 255).astype(np.uint8)
        path = folder / f"film_{i:02d}.png"
        cv2.imwrite(str(path), pixels)
        paths.append(path)
    return paths


# -- a real PACS: Debian's Orthanc with DICOMweb, started by the tests themselves (viewer.bench.orthanc) ------------
def _orthanc_missing() -> str | None:
    from viewer.bench.orthanc import orthanc_available

    return orthanc_available()


ORTHANC_MISSING = _orthanc_missing()
needs_orthanc = pytest.mark.skipif(ORTHANC_MISSING is not None, reason=ORTHANC_MISSING or "")


def _orthanc_with_radcam(workdir: Path, **kwargs):
    """An Orthanc that knows our AE title RADCAM (a free port: the C-MOVE destination, our Storage SCP)."""
    from viewer.bench.orthanc import Orthanc, free_port

    kwargs.setdefault("modalities", {"RADCAM": ("127.0.0.1", free_port())})
    return Orthanc(workdir, **kwargs)


@pytest.fixture(scope="session")
def orthanc(tmp_path_factory):
    """One Orthanc for the whole session (auth on, RADCAM known for C-MOVE), empty at start: upload what a test
    needs (its own instances, so tests never depend on each other) and delete nothing that others use."""
    if ORTHANC_MISSING:
        pytest.skip(ORTHANC_MISSING)
    server = _orthanc_with_radcam(tmp_path_factory.mktemp("orthanc")).start()
    yield server
    server.stop()


@pytest.fixture
def orthanc_factory(tmp_path):
    """orthanc_factory(**Orthanc kwargs) -> a started Orthanc of the test's own (fault tests stop or kill it),
    ended at teardown."""
    if ORTHANC_MISSING:
        pytest.skip(ORTHANC_MISSING)
    servers = []

    def make(**kwargs):
        server = _orthanc_with_radcam(tmp_path / f"orthanc{len(servers)}", **kwargs)
        servers.append(server)
        return server.start()

    yield make
    for server in servers:
        server.kill()  # its storage is thrown away: no need for Orthanc's 3-second clean shutdown


def dimse_node(server, **changes):
    """A DIMSE Node for `server` (calling as RADCAM, C-MOVE to its RADCAM modality's port); `changes` override."""
    from viewer.pacs.nodes import Node

    settings = dict(name="orthanc-dimse", kind="dimse", ae_title=server.aet, host="127.0.0.1",
                    port=server.dicom_port, our_ae_title="RADCAM", timeout=10.0)
    if "RADCAM" in server.modalities:
        settings["move_port"] = server.modalities["RADCAM"][1]
    settings.update(changes)
    return Node(**settings)


def web_node(server, **changes):
    """A DICOMweb Node for `server` with basic authentication (its password: server.password)."""
    from viewer.pacs.nodes import Node

    settings = dict(name="orthanc-web", kind="dicomweb", url=server.dicomweb_url, auth="basic",
                    username=server.username, timeout=10.0)
    settings.update(changes)
    return Node(**settings)


class MemoryKeyring(KeyringBackend):
    """A keyring backend of keyring's own kind, its store a dict: the OS keyring without touching this machine's
    (keyring.set_keyring(MemoryKeyring()); `.items` is {(service, user): secret})."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.items: dict[tuple[str, str], str] = {}

    def get_password(self, service, username):
        return self.items.get((service, username))

    def set_password(self, service, username, password):
        self.items[(service, username)] = password

    def delete_password(self, service, username):
        if self.items.pop((service, username), None) is None:
            raise PasswordDeleteError("not there")
