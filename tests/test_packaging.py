"""Packaging that cannot shadow itself: the wheel holds exactly the tree's modules and data files (a new
folder or file type missing from pyproject's package list fails here, although it imports under an
editable install), and nothing named `kgtag` at the repository root can stand in for the installed one.
`scripts/test` runs the whole suite against the built wheel (KGTAG_WHEEL names it)."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
import zipfile
from fnmatch import fnmatch
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SKIP = ("__pycache__",)


def setuptools_table() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def tree_files() -> set[str]:
    """Every file the wheel should hold, as its path inside the wheel: each mapped folder's modules,
    sub-folders included, and its data files."""
    expected = set()
    for package, folder in setuptools_table()["package-dir"].items():
        base = ROOT / folder
        for path in base.rglob("*"):
            rel = path.relative_to(base)
            if path.is_dir() or any(part in SKIP for part in rel.parts) or path.suffix == ".pyc":
                continue
            if package == "kgtag" and rel.parts[0] in {Path(f).name for f in setuptools_table()["package-dir"].values()}:
                continue
            expected.add("/".join(package.split(".") + list(rel.parts)))
    return expected


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    if os.environ.get("KGTAG_WHEEL"):
        return Path(os.environ["KGTAG_WHEEL"])
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out),
                    str(ROOT)], check=True, capture_output=True)
    return next(out.glob("kgtag-*.whl"))


def test_the_wheel_holds_every_module_and_data_file_of_the_tree(wheel):
    with zipfile.ZipFile(wheel) as zf:
        shipped = {n for n in zf.namelist() if not n.split("/")[0].endswith(".dist-info")}
    expected = tree_files()
    assert sorted(expected - shipped) == [], "in the tree but not in the wheel: add it to pyproject's packages/package-data"
    assert sorted(shipped - expected) == [], "in the wheel but not in the tree"
    assert "kgtag/embed/presets.toml" in shipped and "kgtag/cypher/schema.cypher" in shipped


def test_every_subfolder_with_modules_is_a_listed_package():
    listed = set(setuptools_table()["packages"])
    for package, folder in setuptools_table()["package-dir"].items():
        for init in (ROOT / folder).rglob("*.py"):
            rel = init.parent.relative_to(ROOT / folder)
            name = ".".join([package, *rel.parts])
            assert name in listed, f"{init.relative_to(ROOT)} is in no listed package ({name})"


def test_nothing_at_the_root_shadows_the_installed_package():
    assert not (ROOT / "kgtag").exists(), "a ./kgtag folder would shadow the installed package"
    out = subprocess.run([sys.executable, "-c", "import kgtag, sys; print(kgtag.__file__)"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout.strip()
    assert Path(out).name == "__init__.py"
    if os.environ.get("KGTAG_WHEEL"):  # the suite runs against the wheel's install, not the tree
        assert not Path(out).resolve().is_relative_to(ROOT / "core"), out
