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


def _readme_commands() -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    blocks = text.split("```bash\n")[1:3]
    return [block.split("\n```")[0].strip() for block in blocks]


def test_readme_starts_with_the_demo_and_the_ci_test_command():
    demo, tests = _readme_commands()
    ci_lines = [line for line in (REPO / ".ci" / "run").read_text().splitlines()
                if line and not line.startswith(("#", "set ", "cd "))]
    # Before the README's command only the Debian packages some tests need (they skip without them).
    assert ci_lines == ["bash .ci/debian-packages", tests]
    assert demo.startswith("python3 -m venv .venv && . .venv/bin/activate && pip install . && ")


def test_readme_demo_command_runs(tmp_path, capsys, monkeypatch):
    from conftest import run_cli

    demo, _ = _readme_commands()
    argv = demo.split(" && ")[-1].split()
    assert argv[0] == "radcam-cli"
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(capsys, *argv[1:])
    assert code == 0, err
    assert len(out.splitlines()) == len(demo_studies())
    assert (tmp_path / "radcam-out" / "demo_cr_nodule_panels.png").is_file()


def test_application_icon_ships_and_is_svg():
    import xml.etree.ElementTree as ET

    from viewer.assets import resource_path

    root = ET.parse(resource_path("icons", "radcam.svg")).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg" and root.get("viewBox") == "0 0 512 512"
