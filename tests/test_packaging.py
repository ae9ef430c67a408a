"""Packaging: every sub-package ships, and the shipped resources are found from an installed copy."""

import tomllib
from pathlib import Path

import viewer
from viewer.assets import demo_studies, resource_dir

REPO = Path(__file__).resolve().parents[1]
PACKAGE = Path(viewer.__file__).resolve().parent


def _pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))


def test_every_subpackage_is_listed_for_installation():
    listed = set(_pyproject()["tool"]["setuptools"]["packages"])
    on_disk = {
        "viewer." + ".".join(init.parent.relative_to(REPO / "viewer").parts)
        for init in (REPO / "viewer").rglob("__init__.py")
        if init.parent != REPO / "viewer"
    }
    missing = sorted(on_disk - listed)
    assert not missing, f"add to [tool.setuptools] packages in pyproject.toml: {missing}"


def test_entry_points_match_the_contract():
    project = _pyproject()["project"]
    assert project["name"] == "radcam"
    assert project["scripts"]["radcam-cli"] == "viewer.cli.main:main"
    assert project["gui-scripts"]["radcam"] == "viewer.ui.app:main"
    assert project["version"] == viewer.__version__


def test_resources_are_found_where_viewer_is_installed():
    folder = resource_dir()
    assert folder.is_dir()
    names = {p.name for p in demo_studies()}
    assert {"demo_cr_nodule.dcm", "demo_cr_mono1.dcm", "demo_nodule.png"} <= names
    if not PACKAGE.is_relative_to(REPO):
        # Installed copy (CI installs non-editable): the resources must have been installed with it.
        assert folder.is_relative_to(PACKAGE.parent), f"resources resolved outside the installed package: {folder}"
