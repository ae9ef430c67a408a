"""`radcam-cli info` on a file or folder whose names are not UTF-8 (a Latin-1 'Müller.dcm' from an old archive): the
JSON names them as the rest of the CLI does (the odd byte as \\xNN), never as a lone surrogate ('\\udcfc'), which
strict JSON readers and UTF-8 writers refuse."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
from conftest import run_cli, write_dicom

SHOWN = "M\\xfcller"


def odd(folder: Path, name: bytes) -> Path:
    return Path(os.fsdecode(os.fsencode(folder) + b"/" + name))


def no_surrogates(value) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            no_surrogates(key)
            no_surrogates(item)
    elif isinstance(value, list):
        for item in value:
            no_surrogates(item)
    elif isinstance(value, str):
        value.encode("utf-8")  # a lone surrogate raises here


def test_info_of_a_latin1_file_name_prints_no_surrogate(tmp_path, capsys):
    path = write_dicom(tmp_path / "x.dcm", np.arange(64, dtype=np.uint16).reshape(8, 8))
    os.rename(path, odd(tmp_path, b"M\xfcller.dcm"))
    code, out, err = run_cli(capsys, "info", odd(tmp_path, b"M\xfcller.dcm"))
    assert code == 0, err
    assert "\\udc" not in out
    info = json.loads(out)
    no_surrogates(info)
    assert info["path"].endswith(f"{SHOWN}.dcm")


def test_info_of_a_folder_with_latin1_names_prints_no_surrogate(tmp_path, capsys):
    folder = odd(tmp_path, b"D\xf6e")
    folder.mkdir()
    path = write_dicom(tmp_path / "x.dcm", np.arange(64, dtype=np.uint16).reshape(8, 8))
    os.rename(path, odd(folder, b"M\xfcller.dcm"))
    odd(folder, b"br\xf6ken.dcm").write_bytes(b"not an image")
    code, out, err = run_cli(capsys, "info", folder)
    assert code == 0, err
    assert "\\udc" not in out
    info = json.loads(out)
    no_surrogates(info)
    assert info["path"].endswith("D\\xf6e")
    (instance,) = [i for study in info["studies"] for series in study["series"] for i in series["instances"]]
    assert instance["path"].endswith(f"D\\xf6e/{SHOWN}.dcm")
    (skipped,) = info["skipped"]
    assert skipped["path"].endswith("D\\xf6e/br\\xf6ken.dcm")
