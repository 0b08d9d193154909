"""The repository's layout rules: tests mirror the library, and the library never imports Snakemake."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "src" / "crelens"


def library_modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if p.name != "__init__.py")


def test_every_library_module_has_its_test_module():
    """src/crelens/<package>/<module>.py is tested in tests/<package>/test_<module>.py."""
    missing = []
    for module in library_modules():
        relative = module.relative_to(PACKAGE)
        expected = REPO / "tests" / relative.parent / f"test_{relative.name}"
        if not expected.exists():
            missing.append(str(expected.relative_to(REPO)))
    assert not missing, f"library modules without a test module: {missing}"


def test_every_test_module_mirrors_a_library_module():
    """A test module outside tests/workflow and tests/faults (suites of the whole workflow) names the
    library module it tests (no orphans)."""
    orphans = []
    for test in sorted((REPO / "tests").rglob("test_*.py")):
        relative = test.relative_to(REPO / "tests")
        if relative.parts[0] in ("workflow", "faults") or relative.name == "test_layout.py":
            continue
        module = PACKAGE / relative.parent / relative.name.removeprefix("test_")
        if not module.exists():
            orphans.append(str(relative))
    assert not orphans, f"test modules that mirror no library module: {orphans}"


def test_the_library_never_imports_snakemake():
    names = [".".join(("crelens", *p.relative_to(PACKAGE).with_suffix("").parts)) for p in library_modules()]
    code = f"import importlib, sys\nfor n in {names!r}: importlib.import_module(n)\nprint('snakemake' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
