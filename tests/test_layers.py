"""The layers of docs/architecture.md hold: each folder imports only the kgtag packages its layer may.
Read from the source (every `import` and `from` statement, lazy ones inside functions included)."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORE = {"kgtag", "kgtag.atomic", "kgtag.conventions", "kgtag.errors", "kgtag.progress"}
# folder -> the kgtag packages it may import besides itself and the package root's modules
ALLOWED = {
    "embed": set(),
    "kgstore": set(),
    "synthetic": set(),
    "service": {"kgtag.embed", "kgtag.kgstore", "kgtag.synthetic"},
    "web": {"kgtag.kgstore"},
    "cli": {"kgtag.runs", "kgtag.embed", "kgtag.kgstore", "kgtag.web", "kgtag.synthetic"},
    "core": {"kgtag.cli"},  # `python -m kgtag` (core/__main__.py) is the CLI
}
PACKAGE = {"embed": "kgtag.embed", "kgstore": "kgtag.kgstore", "synthetic": "kgtag.synthetic",
           "service": "kgtag.runs", "web": "kgtag.web", "cli": "kgtag.cli", "core": "kgtag"}


def kgtag_imports(path: Path, package: str) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: inside its own package
                continue
            found.add(node.module or "")
    return {m for m in found if m == "kgtag" or m.startswith("kgtag.")}


def owner(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 1 else module


@pytest.mark.parametrize("folder", sorted(ALLOWED))
def test_a_layer_imports_only_what_it_may(folder):
    own = PACKAGE[folder]
    allowed = ALLOWED[folder] | CORE | {own}
    wrong = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        for module in kgtag_imports(path, own):
            if owner(module) not in allowed and not (folder != "core" and module in CORE):
                wrong.append(f"{path.relative_to(ROOT)} imports {module}")
    assert wrong == []


def test_nothing_imports_the_cli():
    for folder in ("embed", "kgstore", "synthetic", "service", "web"):
        for path in (ROOT / folder).rglob("*.py"):
            assert not any(m.startswith("kgtag.cli") for m in kgtag_imports(path, "")), path
