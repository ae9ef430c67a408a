"""Where the shipped data files are, in a checkout and after a plain `pip install .`."""

from __future__ import annotations

from importlib import resources as _resources
from pathlib import Path


def resource_dir() -> Path:
    """The folder holding resources/ files (demo model, demo studies, icons)."""
    try:
        found = Path(str(_resources.files("viewer.resources")))
        if found.is_dir():
            return found
    except (ModuleNotFoundError, TypeError):
        pass
    # Editable installs and plain checkouts do not always map viewer.resources; use the repository folder.
    return Path(__file__).resolve().parent.parent / "resources"


def resource_path(*parts: str) -> Path:
    return resource_dir().joinpath(*parts)


def demo_studies() -> list[Path]:
    """The demo studies shipped in resources/demo, sorted by name."""
    folder = resource_path("demo")
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in {".dcm", ".png"}) if folder.is_dir() else []
