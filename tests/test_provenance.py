"""Code fingerprints derived from the import closure (crelens.provenance), and derived seeds."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from crelens.provenance import code_fingerprint, derive_seed, import_closure, logic_digest, module_file


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture
def package(tmp_path):
    """A fake `crelens` with a subpackage, absolute, relative and function-level imports."""
    root = tmp_path / "src" / "crelens"
    write(root / "__init__.py", '"""Top."""\n')
    write(root / "names.py", "TASKS = ('a', 'b')\n")
    write(root / "stage" / "__init__.py", "")
    write(
        root / "stage" / "alpha.py",
        """\
        \"\"\"Alpha: reads names.\"\"\"
        from crelens.names import TASKS
        from .beta import helper


        def run():
            \"\"\"Docstring.\"\"\"
            from crelens.lazy import late  # only when run() runs
            return helper(TASKS) + late()
        """,
    )
    write(root / "stage" / "beta.py", "import json\n\n\ndef helper(x):\n    return len(x)\n")
    write(root / "lazy.py", "def late():\n    return 1\n")
    write(root / "unused.py", "X = 1\n")
    script = write(tmp_path / "scripts" / "job.py", "from crelens.stage.alpha import run\n\nrun()\n")
    return root, script


def test_closure_follows_absolute_relative_and_function_imports(package):
    root, script = package
    assert import_closure(script, root) == [
        "crelens",
        "crelens.lazy",
        "crelens.names",
        "crelens.stage",
        "crelens.stage.alpha",
        "crelens.stage.beta",
    ]
    assert module_file("crelens.stage", root) == root / "stage" / "__init__.py"
    assert module_file("crelens.stage.alpha.run", root) is None  # a name inside a module
    assert module_file("json", root) is None


def test_fingerprint_ignores_comments_docstrings_and_layout(package):
    root, script = package
    before = code_fingerprint(script, root)
    assert re.fullmatch(r"[0-9a-f]{16}", before)
    alpha = root / "stage" / "alpha.py"
    text = alpha.read_text()
    alpha.write_text(text.replace("Docstring.", "A better docstring.").replace("# only when", "# a new comment, when"))
    assert code_fingerprint(script, root) == before
    alpha.write_text(text.replace("return helper(TASKS) + late()", "return (helper(TASKS)\n            + late())"))
    assert code_fingerprint(script, root) == before


def test_a_change_of_logic_in_any_reached_module_changes_the_fingerprint(package):
    root, script = package
    before = code_fingerprint(script, root)
    for name, old, new in [
        ("lazy.py", "return 1", "return 2"),
        ("stage/beta.py", "len(x)", "len(x) + 1"),
        ("names.py", "'b')", "'c')"),
        ("__init__.py", '"""Top."""', "VERSION = 2"),
    ]:
        path = root / name
        text = path.read_text()
        path.write_text(text.replace(old, new))
        assert code_fingerprint(script, root) != before, name
        path.write_text(text)
        assert code_fingerprint(script, root) == before, name


def test_modules_the_script_does_not_reach_do_not_count(package):
    root, script = package
    before = code_fingerprint(script, root)
    (root / "unused.py").write_text("X = 2\n")
    assert code_fingerprint(script, root) == before


def test_the_script_itself_counts(package):
    root, script = package
    before = code_fingerprint(script, root)
    script.write_text(script.read_text().replace("run()", "run()\nrun()"))
    assert code_fingerprint(script, root) != before


def test_logic_digest_strips_class_and_function_docstrings(tmp_path):
    a = write(tmp_path / "a.py", 'class K:\n    """Doc."""\n\n    def f(self):\n        """Doc."""\n        return 1\n')
    b = write(tmp_path / "b.py", "class K:\n    def f(self):\n        return 1\n")
    c = write(tmp_path / "c.py", 'class K:\n    def f(self):\n        return "1"\n')
    assert logic_digest(a) == logic_digest(b) != logic_digest(c)


def test_derive_seed_deterministic():
    assert derive_seed(1, "split") == derive_seed(1, "split")
    value = derive_seed(20261122, "simulate")
    assert isinstance(value, int)
    assert 0 <= value < 2**32


def test_derive_seed_depends_on_purpose_and_seed():
    seeds = {derive_seed(7, p) for p in ("genome", "mpra", "noise", "split", "train", "")}
    assert len(seeds) == 6
    assert derive_seed(7, "mpra") != derive_seed(8, "mpra")
    # the separator keeps (seed, purpose) pairs apart: "12:3" vs "1:23"
    assert derive_seed(12, "3") != derive_seed(1, "23")


def test_derive_seed_usable_by_numpy():
    import numpy as np

    a = np.random.default_rng(derive_seed(3, "x")).random(3)
    b = np.random.default_rng(derive_seed(3, "x")).random(3)
    assert (a == b).all()
