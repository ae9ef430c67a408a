"""Write a file completely or not at all: into a temporary file beside the target, then rename over it."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path

from viewer.errors import ExportError


def atomic_write(path: str | os.PathLike, write_fn: Callable[[Path], None], overwrite: bool = False) -> Path:
    """Call `write_fn(temporary_path)` and move the result to `path`.

    The temporary file is in the same folder (so the rename is atomic) and is removed whatever goes wrong.
    OSErrors (read-only folder, disk full, ...) become an ExportError naming the file and the reason.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise ExportError(f"{path} exists; use --overwrite to replace it")
    if not path.parent.is_dir():
        raise ExportError(f"cannot write {path}: folder {path.parent} does not exist")
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        # Created by hand rather than with mkstemp so the final file gets the usual umask permissions, not 0600.
        os.close(os.open(temporary, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
        write_fn(temporary)
        os.replace(temporary, path)
    except OSError as error:
        _remove(temporary)
        raise ExportError(f"cannot write {path}: {error.strerror or error}") from error
    except BaseException:
        _remove(temporary)
        raise
    return path


def _remove(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError:
        pass  # the folder refused the write; it refuses the clean-up too, and there is nothing left to remove
