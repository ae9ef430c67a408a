"""Model file checks: what a path holds before Keras sees it, and Keras's load failures as one clear line.

No TensorFlow here (h5py only for an HDF5 file).
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from viewer.errors import ModelError

SUPPORTED = "supported: Keras v3 .keras files and full-model legacy .h5 files (architecture + weights)"
_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_ZIP_MAGIC = b"PK\x03\x04"


def check_file(path: Path) -> str:
    """'keras' or 'h5': the kind of model file at `path`; ModelError for anything else (folder, weights only, …)."""
    if not path.exists():
        raise ModelError(f"{path}: no such model file")
    if path.is_dir():
        if (path / "saved_model.pb").exists() or (path / "saved_model.pbtxt").exists():
            raise ModelError(f"{path}: a TensorFlow SavedModel folder cannot be loaded; {SUPPORTED} "
                             "(re-save it with model.save('model.keras'))")
        raise ModelError(f"{path}: is a folder, not a model file; {SUPPORTED}")
    try:
        with path.open("rb") as handle:
            head = handle.read(8)
    except OSError as exc:
        raise ModelError(f"{path}: cannot read ({exc.strerror or exc})") from None
    suffix = path.suffix.lower()
    if head.startswith(_HDF5_MAGIC):
        if suffix not in (".h5", ".hdf5"):
            raise ModelError(f"{path}: an HDF5 file without the .h5 extension; rename it to .h5 ({SUPPORTED})")
        import h5py

        try:
            with h5py.File(path, "r") as f:
                has_config = "model_config" in f.attrs
        except OSError as exc:
            raise ModelError(f"{path}: damaged HDF5 file ({exc}); {SUPPORTED}") from None
        if not has_config:
            raise ModelError(f"{path}: holds weights only (no model architecture); {SUPPORTED} — "
                             "save the whole model (model.save('model.keras'))")
        return "h5"
    if head.startswith(_ZIP_MAGIC):
        if suffix != ".keras":
            raise ModelError(f"{path}: a zip file without the .keras extension; {SUPPORTED}")
        try:
            with zipfile.ZipFile(path) as archive:
                names = set(archive.namelist())
        except (zipfile.BadZipFile, OSError) as exc:
            raise ModelError(f"{path}: damaged .keras file ({exc})") from None
        if "config.json" not in names:
            raise ModelError(f"{path}: a zip file without a Keras model config; {SUPPORTED}")
        return "keras"
    if suffix == ".pb":
        raise ModelError(f"{path}: a TensorFlow graph/SavedModel file cannot be loaded; {SUPPORTED}")
    raise ModelError(f"{path}: not a Keras model file; {SUPPORTED}")


def first_line(exc: BaseException) -> str:
    """A library exception's first line, at most 240 characters (its type name when it says nothing)."""
    text = str(exc).strip().splitlines()
    line = text[0] if text else type(exc).__name__
    return line if len(line) <= 240 else line[:237] + "..."


def load_error(path: Path, kind: str, exc: Exception) -> ModelError:
    """Keras's failure to load a checked file, said in one line with what to do about it."""
    text = str(exc)
    if "safe_mode" in text or "unsafe" in text.lower() and "deserializ" in text.lower():
        return ModelError(
            f"{path}: needs unsafe deserialisation (it contains a Lambda layer or other Python code that "
            "would run when loading); if you trust its source, load it with --unsafe-model")
    if kind == "h5":
        return ModelError(f"{path}: Keras 3 cannot rebuild this legacy .h5 model ({first_line(exc)}); "
                          "re-save it as .keras with the Keras version that made it")
    if "Could not locate" in text or "Unknown layer" in text or "custom_object" in text:
        return ModelError(f"{path}: uses a custom layer or object RadCAM does not know ({first_line(exc)}); "
                          "re-save it without custom code, as .keras")
    return ModelError(f"{path}: cannot load the model ({first_line(exc)}); {SUPPORTED}")


__all__ = ["SUPPORTED", "check_file", "first_line", "load_error"]
