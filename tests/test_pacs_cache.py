"""The managed PACS cache: layout, atomic writes, the manifest that keeps a partial study from ever looking complete,
least-recently-used eviction under the limit, clear, and never touching a study being retrieved."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import write_dicom
from pydicom import dcmread
from pydicom.uid import generate_uid

from viewer.errors import PacsError
from viewer.pacs.cache import MANIFEST, MB, PacsCache
from viewer.pacs.client import InstanceRef


@pytest.fixture(autouse=True)
def _private_dirs(tmp_path, monkeypatch):
    monkeypatch.setenv("RADCAM_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("RADCAM_CACHE_DIR", str(tmp_path / "cache"))


def make_study(tmp_path, count=3, size=32, series=1):
    """`count` instances of one new study (spread over `series` series), as datasets read back from real files."""
    study = generate_uid()
    series_uids = [generate_uid() for _ in range(series)]
    datasets = []
    for n in range(count):
        path = write_dicom(tmp_path / f"src-{study[-8:]}-{n}.dcm", np.full((size, size), n, np.uint16),
                           StudyInstanceUID=study, SeriesInstanceUID=series_uids[n % series], InstanceNumber=n + 1)
        datasets.append(dcmread(path))
    refs = [InstanceRef(ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID, ds.SOPClassUID)
            for ds in datasets]
    return study, datasets, refs


def retrieved(cache, tmp_path, **kw):
    study, datasets, refs = make_study(tmp_path, **kw)
    cache.begin(study, refs)
    for ds in datasets:
        cache.put(ds)
    assert cache.complete(study)
    return study


def test_put_writes_the_instance_where_its_uids_say_and_reads_back(tmp_path):
    cache = PacsCache(tmp_path / "c", limit_bytes=10 * MB)
    study, datasets, refs = make_study(tmp_path, count=2, series=2)
    cache.begin(study, refs)
    path = cache.put(datasets[1])
    assert path == tmp_path / "c" / study / refs[1].series_uid / f"{refs[1].sop_instance_uid}.dcm"
    back = dcmread(path)
    assert back.SOPInstanceUID == refs[1].sop_instance_uid
    assert np.array_equal(back.pixel_array, datasets[1].pixel_array)
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".part-")]  # no temporary left behind
    assert cache.missing(study, refs) == [refs[0]]


def test_a_partial_study_is_never_complete(tmp_path):
    cache = PacsCache(tmp_path / "c", limit_bytes=10 * MB)
    study, datasets, refs = make_study(tmp_path, count=4)
    cache.begin(study, refs)
    for ds in datasets[:3]:
        cache.put(ds)
    assert not cache.complete(study)
    assert not cache.is_complete(study)
    manifest = json.loads((tmp_path / "c" / study / MANIFEST).read_text())
    assert manifest["state"] == "partial"
    assert set(manifest["expected"]) == {ref.sop_instance_uid for ref in refs}
    assert cache.missing(study, refs) == [refs[3]]
    [entry] = cache.studies()
    assert (entry.complete, entry.instances) == (False, 3)
    cache.put(datasets[3])  # the resumed retrieve brings the last one
    assert cache.complete(study) and cache.is_complete(study)


def test_a_complete_study_becomes_partial_again_while_more_of_it_is_retrieved(tmp_path):
    cache = PacsCache(tmp_path / "c", limit_bytes=10 * MB)
    study, datasets, refs = make_study(tmp_path, count=2)
    cache.begin(study, refs[:1])
    cache.put(datasets[0])
    assert cache.complete(study)
    cache.begin(study, refs[1:])  # another series of it
    assert not cache.is_complete(study)
    assert not cache.complete(study)  # the first instance alone is no longer all that was asked for


def test_an_unreadable_manifest_is_never_trusted_as_complete(tmp_path):
    cache = PacsCache(tmp_path / "c", limit_bytes=10 * MB)
    study = retrieved(cache, tmp_path)
    (tmp_path / "c" / study / MANIFEST).write_text("{not json")
    assert not cache.is_complete(study)
    assert not cache.complete(study)


def test_a_uid_that_is_not_a_uid_never_becomes_a_path(tmp_path):
    cache = PacsCache(tmp_path / "c", limit_bytes=10 * MB)
    _, [ds], _ = make_study(tmp_path, count=1)
    with pytest.warns(UserWarning, match="Invalid value for VR UI"):  # pydicom's own notice
        ds.SeriesInstanceUID = "../../escape"
    with pytest.raises(PacsError, match="is not a valid Series Instance UID"):
        cache.put(ds)
    assert not (tmp_path / "escape").exists()


def test_eviction_removes_the_least_recently_used_complete_studies_until_under_the_limit(tmp_path):
    cache = PacsCache(tmp_path / "c", limit_bytes=10 * MB)
    first, second, third = (retrieved(cache, tmp_path, size=64) for _ in range(3))
    cache.touch(first)  # opened again: now the most recently used
    each = cache.size_bytes() // 3
    cache.limit_bytes = 2 * each + each // 2
    assert cache.evict() == [second]
    assert {s.study_uid for s in cache.studies()} == {first, third}
    assert cache.size_bytes() <= cache.limit_bytes
    assert cache.evict() == []  # under the limit: nothing more


def test_eviction_takes_complete_studies_before_stopped_partial_ones_and_spares_keep(tmp_path):
    cache = PacsCache(tmp_path / "c", limit_bytes=10 * MB)
    study, datasets, refs = make_study(tmp_path, count=3)
    cache.begin(study, refs)
    cache.put(datasets[0])
    cache.end(study)  # stopped half-way, long ago
    old = retrieved(cache, tmp_path)
    new = retrieved(cache, tmp_path)
    cache.limit_bytes = 0
    assert cache.evict(keep=[new]) == [old, study]
    assert [s.study_uid for s in cache.studies()] == [new]


def test_a_study_being_retrieved_is_never_evicted_nor_cleared(tmp_path):
    cache = PacsCache(tmp_path / "c", limit_bytes=0)
    study, datasets, refs = make_study(tmp_path, count=2)
    cache.begin(study, refs)
    cache.put(datasets[0])
    done = retrieved(cache, tmp_path)
    assert cache.evict() == [done]
    assert cache.clear() == []
    [entry] = cache.studies()
    assert entry.retrieving and entry.study_uid == study
    cache.end(study)
    assert cache.clear() == [study]


def test_a_retrieve_whose_process_died_does_not_pin_the_study(tmp_path):
    cache = PacsCache(tmp_path / "c", limit_bytes=0)
    study, datasets, refs = make_study(tmp_path, count=2)
    cache.begin(study, refs)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    manifest = tmp_path / "c" / study / MANIFEST
    data = json.loads(manifest.read_text())
    data["retrieving"] = int(dead.stdout)
    manifest.write_text(json.dumps(data))
    assert not cache.studies()[0].retrieving
    assert cache.evict() == [study]


def test_clear_empties_the_cache(tmp_path):
    cache = PacsCache(tmp_path / "c", limit_bytes=10 * MB)
    studies = {retrieved(cache, tmp_path) for _ in range(2)}
    assert cache.size_bytes() > 0
    assert set(cache.clear()) == studies
    assert cache.size_bytes() == 0 and cache.studies() == []


def test_defaults_come_from_the_configuration_and_the_cache_folder(tmp_path):
    from viewer.pacs.nodes import NodeStore

    store = NodeStore()
    store.cache_limit_mb = 7
    store.save()
    cache = PacsCache()
    assert cache.root == tmp_path / "cache"
    assert cache.limit_bytes == 7 * MB


def test_a_cache_that_cannot_be_written_is_one_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    cache = PacsCache(blocker, limit_bytes=MB)
    study, datasets, refs = make_study(tmp_path, count=1)
    with pytest.raises(PacsError, match="cannot write to the PACS cache"):
        cache.begin(study, refs)
    assert os.path.isfile(blocker)


def test_an_instance_gone_from_the_pacs_between_two_retrieves_does_not_keep_the_study_partial(tmp_path):
    """A retrieve stopped half-way, then the PACS lost (deleted, merged) an instance it had listed: the next listing is
    what the study is now, so the study completes with what is there instead of waiting forever for the gone one."""
    cache = PacsCache(tmp_path / "c", limit_bytes=1 << 30)
    study, datasets, refs = make_study(tmp_path, count=3)
    cache.begin(study, refs)
    cache.put(datasets[0])
    cache.put(datasets[1])
    cache.end(study)
    cache.begin(study, refs[:2], whole_study=True)
    assert cache.complete(study) and cache.is_complete(study)


def test_a_series_listed_again_replaces_only_that_series_expected_instances(tmp_path):
    cache = PacsCache(tmp_path / "c", limit_bytes=1 << 30)
    study, datasets, refs = make_study(tmp_path, count=4, series=2)
    first = [ref for ref in refs if ref.series_uid == refs[0].series_uid]
    second = [ref for ref in refs if ref.series_uid != refs[0].series_uid]
    cache.begin(study, second)
    for ds in datasets:
        if ds.SeriesInstanceUID == second[0].series_uid:
            cache.put(ds)
    assert cache.complete(study)
    cache.begin(study, first)  # the other series now: it is expected too
    cache.put(next(ds for ds in datasets if ds.SOPInstanceUID == first[0].sop_instance_uid))
    cache.end(study)  # stopped before first[1]
    assert not cache.complete(study)
    cache.begin(study, first[:1])  # first[1] is gone from the PACS: that series is now only first[0]
    assert cache.complete(study)
