"""What the window remembers between runs (geometry, last choices, recent files), stored with QSettings.

RADCAM_SETTINGS=/path/file.ini stores them in that INI file instead of the user's profile, so tests and
screenshot runs never read or change a user's real settings.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QSettings

ORGANIZATION = "RadCAM"
APPLICATION = "RadCAM"
MAX_RECENT = 10


def open_settings() -> QSettings:
    override = os.environ.get("RADCAM_SETTINGS")
    if override:
        return QSettings(override, QSettings.Format.IniFormat)
    return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, ORGANIZATION, APPLICATION)


class Settings:
    """Typed access to the few values RadCAM keeps; QSettings returns strings from INI files."""

    def __init__(self, store: QSettings | None = None):
        self.store = store or open_settings()

    def get(self, key: str, default: Any) -> Any:
        value: Any = self.store.value(key, default)
        if value is None:
            return default
        try:
            if isinstance(default, bool):
                return value if isinstance(value, bool) else str(value).lower() in ("true", "1", "yes")
            if isinstance(default, int):
                return int(value)
            if isinstance(default, float):
                return float(value)
        except (TypeError, ValueError):
            return default
        return value

    def set(self, key: str, value) -> None:
        self.store.setValue(key, value)

    def bytes(self, key: str) -> QByteArray | None:
        value = self.store.value(key)
        return value if isinstance(value, QByteArray) else None

    def recent(self) -> list[str]:
        value: Any = self.store.value("recent", [])
        items = [value] if isinstance(value, str) else list(value or [])
        return [item for item in items if item and Path(item).exists()][:MAX_RECENT]

    def add_recent(self, paths: list[str]) -> None:
        items = [str(p) for p in paths] + [p for p in self.recent() if p not in map(str, paths)]
        self.store.setValue("recent", items[:MAX_RECENT])

    def clear_recent(self) -> None:
        self.store.setValue("recent", [])

    def trusted_models(self) -> frozenset[str]:
        """SHA-256 digests of the model files the user allowed to load unsafely; a changed file asks again."""
        value: Any = self.store.value("trust/sha256", [])
        return frozenset([value] if isinstance(value, str) else (value or []))

    def trust_model(self, digest: str) -> None:
        if digest:
            self.store.setValue("trust/sha256", sorted(self.trusted_models() | {digest}))

    def sync(self) -> None:
        self.store.sync()
