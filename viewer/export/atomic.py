"""Write a file completely or not at all: into a temporary file beside the target, then rename over it."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Literal

from viewer.errors import ExportError


def atomic_write(path: str | os.PathLike[str], write_fn: Callable[[Path], object], overwrite: bool = False,
                 durable: bool = False) -> Path:
    """Call `write_fn(temporary_path)` and move the result to `path`.

    The temporary file is in the same folder (so the rename is atomic) and is removed whatever goes wrong.
    OSErrors (read-only folder, disk full, ...) become an ExportError naming the file and the reason.
    `durable`: the file is fsynced before the rename and the folder after it, so a power cut leaves the old file
    or the new one (a review session's record), at the cost of a disk flush.
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
        if durable:
            _sync(temporary, os.O_RDWR)
        os.replace(temporary, path)
    except OSError as error:
        _remove(temporary)
        raise ExportError(f"cannot write {path}: {error.strerror or error}") from error
    except BaseException:
        _remove(temporary)
        raise
    if durable:
        try:
            _sync(path.parent, os.O_RDONLY)  # the rename itself
        except OSError:
            pass  # not possible on this platform or file system; the file itself is synced
    return path


def _sync(path: Path, mode: int) -> None:
    descriptor = os.open(path, mode)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _remove(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError:
        pass  # the folder refused the write; it refuses the clean-up too, and there is nothing left to remove


class StagedSet:
    """Files that belong together (an explained image's panels, CAM and sidecar), all or none: each is written to a
    temporary name beside its target and the set is renamed into place only when every write succeeded.

    Use as a context manager: `with StagedSet(targets, overwrite) as stage: write to stage.path(target) ...`; an
    exception inside the block (a full disk half-way) removes every temporary and leaves the targets as they were.
    """

    def __init__(self, targets: list[Path], overwrite: bool = False):
        self.targets = [Path(target) for target in targets]
        existing = [target for target in self.targets if target.exists()]
        if existing and not overwrite:
            more = f" and {len(existing) - 1} more" if len(existing) > 1 else ""
            raise ExportError(f"{existing[0]}{more} exist; use --overwrite to replace them")
        token = secrets.token_hex(4)
        # Same folder (an atomic rename), hidden, and the target's suffix kept: writers choose the format by it.
        self._temporary = {target: target.with_name(f".{target.stem}.{token}.part{target.suffix}")
                           for target in self.targets}

    def path(self, target: str | os.PathLike) -> Path:
        return self._temporary[Path(target)]

    def __enter__(self) -> StagedSet:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> Literal[False]:
        if kind is not None:
            self.discard()
            if isinstance(error, ExportError):  # name the file the user asked for, not its temporary
                raise ExportError(self._targets_named(str(error))) from error.__cause__
            return False
        self.commit()
        return False

    def commit(self) -> None:
        """Every temporary renamed into place. A file of the same name (--overwrite) is first moved aside and comes
        back if a rename fails half-way: the folder then holds the earlier set whole, never a mix of the two."""
        aside: dict[Path, Path] = {}
        moved: list[Path] = []
        failed = None
        try:
            for failed in self.targets:
                if os.path.lexists(failed):
                    aside[failed] = self._temporary[failed].with_name(self._temporary[failed].name + ".old")
                    os.replace(failed, aside[failed])
                os.replace(self._temporary[failed], failed)
                moved.append(failed)
        except OSError as error:
            for target in moved:  # take back what was moved, put back what was there, then report
                _remove(target)
            for target, earlier in aside.items():
                try:
                    os.replace(earlier, target)
                except OSError:
                    pass  # the folder refuses even this: the earlier file stays under its hidden name
            self.discard()
            raise ExportError(f"cannot write {failed}: {error.strerror or error}") from error
        for earlier in aside.values():
            _remove(earlier)

    def discard(self) -> None:
        for temporary in self._temporary.values():
            _remove(temporary)

    def _targets_named(self, message: str) -> str:
        for target, temporary in self._temporary.items():
            message = message.replace(str(temporary), str(target))
        return message
