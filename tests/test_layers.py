"""The layer rules of docs/ARCHITECTURE.md: Qt only in viewer/ui, TensorFlow only where it is needed, lazily."""

import ast
import subprocess
import sys
from pathlib import Path

import viewer

PACKAGE = Path(viewer.__file__).resolve().parent
QT_MODULES = ("PySide6", "PyQt5", "PyQt6", "shiboken6", "shiboken2", "PySide2")


def _imported_modules(source: Path) -> set[str]:
    tree = ast.parse(source.read_text(encoding="utf-8"), filename=str(source))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_only_ui_imports_qt():
    offenders = []
    for source in PACKAGE.rglob("*.py"):
        relative = source.relative_to(PACKAGE)
        if relative.parts[0] == "ui":
            continue
        found = _imported_modules(source) & set(QT_MODULES)
        if found:
            offenders.append(f"{relative}: {sorted(found)}")
    assert not offenders, "Qt imported outside viewer/ui: " + "; ".join(offenders)


# Layers from the bottom; a module may import its own layer and those before it, never one after it.
LAYER_ORDER = ("errors", "stderr_capture", "assets", "progress", "io", "pacs", "demo", "render", "model", "cam",
               "export", "trust", "app", "bench", "cli", "ui")


def _viewer_imports(source: Path) -> set[str]:
    """The viewer layers a module imports (absolute `viewer.X` imports; relative ones stay in the package)."""
    tree = ast.parse(source.read_text(encoding="utf-8"), filename=str(source))
    found: set[str] = set()
    for node in ast.walk(tree):
        names = ([alias.name for alias in node.names] if isinstance(node, ast.Import) else
                 [node.module] if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 else [])
        found.update(name.split(".")[1] for name in names if name.startswith("viewer.") and name.count(".") >= 1)
    return found


def test_the_app_layer_sits_between_the_data_layers_and_ui_cli():
    offenders = []
    for source in PACKAGE.rglob("*.py"):
        relative = source.relative_to(PACKAGE)
        layer = relative.parts[0].removesuffix(".py")
        imported = _viewer_imports(source)
        if layer == "app":
            offenders += [f"{relative} imports viewer.{name}" for name in imported & {"ui", "cli", "bench"}]
        elif layer in LAYER_ORDER and LAYER_ORDER.index(layer) < LAYER_ORDER.index("app") and "app" in imported:
            offenders.append(f"{relative} imports viewer.app")
    assert not offenders, "; ".join(offenders)


def test_the_scanner_sees_qt_imports(tmp_path):
    # Guard against a scanner that silently finds nothing.
    sample = tmp_path / "sample.py"
    sample.write_text("import os\nfrom PySide6.QtCore import Qt\n", encoding="utf-8")
    assert "PySide6" in _imported_modules(sample)


def test_headless_layers_load_neither_qt_nor_tensorflow():
    # Importing the data layers and the CLI must stay cheap: no Qt, and no TensorFlow until a model is used.
    code = (
        "import sys, viewer.io, viewer.render, viewer.export, viewer.demo, viewer.cli.main, viewer.model, viewer.cam,"
        " viewer.trust, viewer.trust.phantoms, viewer.app;"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('PySide6', 'tensorflow', 'keras'));"
        "print(','.join(bad))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", f"loaded at import time: {result.stdout.strip()}"


def test_no_module_is_two_files():
    # issue 14: no module in viewer/ over 400 lines; the main window is layout and wiring (controllers do the rest).
    sizes = {str(source.relative_to(PACKAGE)): len(source.read_text(encoding="utf-8").splitlines())
             for source in PACKAGE.rglob("*.py")}
    assert not {name: n for name, n in sizes.items() if n > 400}
    assert sizes[str(Path("ui", "main_window.py"))] <= 250
