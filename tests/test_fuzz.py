"""Fuzzing the study loader and `radcam-cli view` (issue: Reliability): mutated real and generated files.

Seeds: every file in ../shared/fixtures/dicom and images (skipped when absent), plus DICOM and raster files generated
here (native, multi-frame, RLE, JPEG-LS, JPEG 2000, JPEG Lossless, deflated, float, colour; PNG 8/16-bit, RGBA,
JPEG). Mutations: bit flips, byte-range deletions and insertions, truncations, and interesting values (0, 0xFF,
0xFFFF, 0xFFFFFFFF, 0xFFFFFFF0 lengths, item and delimiter tags) written over the header, the pixel data element or
anywhere.

Targets: the loader (list, open and render the first, second and last frame with each window) and `radcam-cli view`
in this process. Only a one-line RadcamError may come out; exit codes are 0 or 2 with one stderr line (fd 2
included); no warning may escape. Hangs are cut by a 30 s watchdog and flagged by a 5 s hypothesis deadline; memory
is capped (address space +4 GiB) so a blow-up surfaces as a MemoryError, which fails instead of passing as a
StudyError; descriptors must not leak.

RADCAM_FUZZ_EXAMPLES sets the examples per test (default 150: the file runs in about 25 s on 2 cores);
RADCAM_FUZZ_SEED picks another reproducible sequence; RADCAM_FUZZ_REPORT=FILE.json writes the inputs per seed and
outcome. Without a seed, examples are derandomized: a run is reproducible, and a failure is shrunk to a small
mutation list. The long run: RADCAM_FUZZ_EXAMPLES=3000 pytest -s tests/test_fuzz.py (12,000 inputs).
"""

from __future__ import annotations

import collections
import gc
import io
import json
import os
from datetime import timedelta
from functools import cache
from pathlib import Path

import numpy as np
import pytest
from conftest import FIXTURES, write_dicom
from hypothesis import HealthCheck, given, seed, settings, strategies as st
from PIL import Image
from pydicom import dcmread
from robustness import jpeg_lossless, open_descriptors, open_everything, view, within

EXAMPLES = int(os.environ.get("RADCAM_FUZZ_EXAMPLES", "150"))
SEED = os.environ.get("RADCAM_FUZZ_SEED")  # another reproducible sequence of inputs (default: derandomized)
REPORT = os.environ.get("RADCAM_FUZZ_REPORT")
WATCHDOG = 30.0  # seconds: a hang fails the test instead of stopping the run
MEMORY_HEADROOM = 4 << 30
INTERESTING = [b"\x00", b"\xff", b"\x00\x00", b"\xff\xff", b"\x00\x00\x00\x00", b"\xff\xff\xff\xff",
               b"\xf0\xff\xff\xff", b"\xff\xff\xff\x7f", b"\x00\x80", b"\xfe\xff\x00\xe0", b"\xfe\xff\xdd\xe0",
               b"\xfe\xff\x0d\xe0"]
PIXEL_TAG = b"\xe0\x7f\x10\x00"
FUZZ = settings(max_examples=EXAMPLES, deadline=timedelta(seconds=5), derandomize=SEED is None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])

# What each run met, for the report: inputs per seed kind, outcomes.
TALLY: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)


@cache
def generated_seeds() -> dict[str, bytes]:
    """name (with the suffix it is written under) -> bytes of a small valid file."""
    import tempfile

    rng = np.random.default_rng(11)
    seeds: dict[str, bytes] = {}
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)

        def dicom(name, pixels, **kw):
            seeds[name] = write_dicom(tmp / name, pixels, **kw).read_bytes()

        ramp = rng.integers(0, 4096, (32, 24), dtype=np.uint16)
        dicom("native16.dcm", ramp, bits_stored=12, WindowCenter=[2048, 40], WindowWidth=[4096, 400],
              RescaleSlope=1, RescaleIntercept=-1024, PixelPaddingValue=0)
        dicom("mono1_u8.dcm", rng.integers(0, 256, (16, 16), dtype=np.uint8), photometric="MONOCHROME1")
        dicom("signed16.dcm", rng.integers(-2000, 2000, (16, 16), dtype=np.int16))
        dicom("rgb.dcm", rng.integers(0, 256, (8, 8, 3), dtype=np.uint8), photometric="RGB")
        frames = rng.integers(0, 4096, (2, 64, 48), dtype=np.uint16)  # JPEG 2000 needs at least ~32 x 32
        dicom("multiframe.dcm", frames, bits_stored=12)
        for name, syntax in (("rle", "1.2.840.10008.1.2.5"), ("jpegls", "1.2.840.10008.1.2.4.80"),
                             ("j2k", "1.2.840.10008.1.2.4.90"), ("deflated", "1.2.840.10008.1.2.1.99")):
            ds = dcmread(tmp / "multiframe.dcm")
            if name == "deflated":
                ds.file_meta.TransferSyntaxUID = syntax
            else:
                ds.compress(syntax)
            ds.save_as(tmp / f"{name}.dcm")
            seeds[f"{name}.dcm"] = (tmp / f"{name}.dcm").read_bytes()
        seeds["jpeg_lossless.dcm"] = jpeg_lossless(tmp / "multiframe.dcm", tmp / "lossless.dcm").read_bytes()
        floats = np.linspace(-5, 5, 16 * 16, dtype=np.float32).reshape(16, 16)
        dicom("float.dcm", None, Rows=16, Columns=16, BitsAllocated=32, SamplesPerPixel=1,
              PhotometricInterpretation="MONOCHROME2", FloatPixelData=floats.tobytes())
    for name, array, mode, fmt in (("grey8.png", rng.integers(0, 256, (16, 16), dtype=np.uint8), None, "PNG"),
                                   ("grey16.png", rng.integers(0, 65536, (16, 16), dtype=np.uint16), None, "PNG"),
                                   ("rgba.png", rng.integers(0, 256, (12, 12, 4), dtype=np.uint8), "RGBA", "PNG"),
                                   ("photo.jpg", rng.integers(0, 256, (16, 16, 3), dtype=np.uint8), None, "JPEG")):
        buffer = io.BytesIO()
        Image.fromarray(array, mode).save(buffer, fmt)
        seeds[name] = buffer.getvalue()
    return seeds


@cache
def fixture_seeds() -> dict[str, bytes]:
    files = sorted((FIXTURES / "dicom").glob("*")) + sorted((FIXTURES / "images").glob("*"))
    return {path.name: path.read_bytes() for path in files if path.is_file()}


@st.composite
def mutants(draw, seeds: dict[str, bytes]) -> tuple[str, bytes]:
    """(seed name, seed bytes after 1 to 3 mutations), positions biased to the header and the pixel data element."""
    name = draw(st.sampled_from(sorted(seeds)))
    data = bytearray(seeds[name])
    for _ in range(draw(st.integers(1, 3))):
        size = len(data)
        if not size:
            break
        places = [st.integers(0, min(size, 2048) - 1), st.integers(0, size - 1)]
        pixel = bytes(data).rfind(PIXEL_TAG)
        if pixel >= 0:  # the element header, the offset table and the first fragment items
            places.append(st.integers(pixel, min(size - 1, pixel + 96)))
        at = draw(st.one_of(places))
        kind = draw(st.sampled_from(("flip", "delete", "insert", "truncate", "overwrite")))
        if kind == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "delete":
            del data[at:at + draw(st.integers(1, 64))]
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "truncate":
            del data[at:]
        else:
            value = draw(st.sampled_from(INTERESTING))
            data[at:at + len(value)] = value
    return name, bytes(data)


@pytest.fixture(scope="module")
def capped_memory():
    """Address space capped at its current size + 4 GiB: a blow-up becomes a MemoryError (which the checks fail)
    rather than swapping or an OOM kill of the whole run."""
    try:
        import resource

        with open("/proc/self/statm") as statm:
            current = int(statm.read().split()[0]) * resource.getpagesize()
    except (ImportError, OSError):
        yield  # not Linux: no cap
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = current + MEMORY_HEADROOM
    resource.setrlimit(resource.RLIMIT_AS, (cap if hard == resource.RLIM_INFINITY else min(cap, hard), hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


def suffix(name: str) -> str:
    return Path(name).suffix or ".dcm"  # fixture DICOMs without a suffix are still DICOM


def tally(target: str, seed_kind: str, name: str, outcome: str) -> None:
    counter = TALLY[target]
    counter["inputs"] += 1
    counter[f"seed {seed_kind}: {name}"] += 1
    counter[f"outcome {outcome}"] += 1


def seeded(test):
    return seed(int(SEED))(test) if SEED is not None else test


def fuzz_loader(workdir: Path, seed_kind: str, seeds: dict[str, bytes]):
    @seeded
    @FUZZ
    @given(mutants(seeds))
    def run(mutant):
        name, data = mutant
        path = workdir / f"loader{suffix(name)}"
        path.write_bytes(data)
        renders, errors = within(WATCHDOG, open_everything, path)
        tally("loader", seed_kind, name, "opened" if renders and not errors else
              "opened (some frames refused)" if renders else "refused")
    return run


def fuzz_view(workdir: Path, capfd, seed_kind: str, seeds: dict[str, bytes]):
    @seeded
    @FUZZ
    @given(mutants(seeds))
    def run(mutant):
        name, data = mutant
        path, out = workdir / f"view{suffix(name)}", workdir / "shown.png"
        path.write_bytes(data)
        code, err = within(WATCHDOG, view, capfd, path, out)
        assert code in (0, 2), err  # 1 is an internal error: a bug
        lines = err.splitlines()
        one_line = len(lines) == 1 and lines[0].startswith("radcam: error: ")
        assert (code == 0 and not lines) or (code == 2 and one_line), err
        tally("view", seed_kind, name, f"exit {code}")
    return run


def check_no_descriptor_leak(before: int) -> None:
    gc.collect()
    after = open_descriptors()
    assert after <= before + 2, f"{after - before} file descriptors leaked"


needs_fixture_seeds = pytest.mark.skipif(not (FIXTURES / "dicom").is_dir(),
                                         reason="../shared/fixtures is absent: no real files to seed from")


def test_fuzz_loader_generated(workdir, capped_memory):
    before = open_descriptors()
    fuzz_loader(workdir, "generated", generated_seeds())()
    check_no_descriptor_leak(before)


@needs_fixture_seeds
def test_fuzz_loader_fixtures(workdir, capped_memory):
    before = open_descriptors()
    fuzz_loader(workdir, "fixture", fixture_seeds())()
    check_no_descriptor_leak(before)


def test_fuzz_view_generated(workdir, capfd, capped_memory):
    before = open_descriptors()
    fuzz_view(workdir, capfd, "generated", generated_seeds())()
    check_no_descriptor_leak(before)


@needs_fixture_seeds
def test_fuzz_view_fixtures(workdir, capfd, capped_memory):
    before = open_descriptors()
    fuzz_view(workdir, capfd, "fixture", fixture_seeds())()
    check_no_descriptor_leak(before)


def test_seeds_are_valid_before_mutation(workdir):
    """The fuzzer starts from files that open: every generated seed renders (so mutants exercise deep code)."""
    for name, data in generated_seeds().items():
        path = workdir / f"seed{suffix(name)}"
        path.write_bytes(data)
        renders, errors = open_everything(path)
        assert renders and not errors, (name, errors)


@pytest.fixture(scope="module", autouse=True)
def report():
    yield
    if TALLY:
        summary = {target: dict(sorted(counter.items())) for target, counter in TALLY.items()}
        print("\nfuzz tally:", json.dumps(summary, indent=1))
        if REPORT:
            Path(REPORT).write_text(json.dumps(summary, indent=1))


def test_mutants_cover_every_kind_of_damage():
    """The strategy really produces each mutation (a regression in it would silently weaken the fuzzing)."""
    seed = bytes(range(256)) * 4 + PIXEL_TAG + bytes(200)
    pixel_window = range(1024, 1024 + 97)
    seen = collections.Counter()

    @settings(max_examples=300, derandomize=True, database=None)
    @given(mutants({"x.dcm": seed}))
    def collect(mutant):
        _, data = mutant
        if len(data) < len(seed):
            seen["shorter"] += 1
        elif len(data) > len(seed):
            seen["longer"] += 1
        elif data != seed:
            seen["changed in place"] += 1
        for value in INTERESTING[4:]:
            if value in data and value not in seed:
                seen["interesting value"] += 1
        first_change = next((i for i, (a, b) in enumerate(zip(data, seed, strict=False)) if a != b), None)
        if first_change in pixel_window:
            seen["near the pixel data"] += 1

    collect()
    assert {"shorter", "longer", "changed in place", "interesting value", "near the pixel data"} <= set(seen), seen
