"""The JSON record written beside an export: what was explained, how, and with which result."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

import viewer

from .anonymize import anonymize_metadata
from .atomic import atomic_write
from .names import printable_tree


def write_sidecar(path: str | os.PathLike, record: dict, overwrite: bool = False, anonymize: bool = False) -> Path:
    """Write `record` (source, model, method, layer, target, scores, threshold, ...) as JSON, adding the software
    version and the UTC time; `anonymize` drops patient data from it first."""
    record = {**record, "software": {"name": "RadCAM", "version": viewer.__version__},
              "time": datetime.now(UTC).isoformat(timespec="seconds")}
    if anonymize:
        record = anonymize_metadata(record)
        record["anonymized"] = True
    record = printable_tree(record)  # a source name that is not UTF-8 (b'M\\xfcller.dcm') cannot stop the write
    text = json.dumps(record, indent=2, sort_keys=True, ensure_ascii=False, default=_plain) + "\n"
    return atomic_write(path, lambda temporary: temporary.write_text(text, encoding="utf-8"), overwrite)


def _plain(value):
    """numpy values and paths, which records carry straight from the CAM engine and the loader."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"cannot write {type(value).__name__} to a sidecar")
