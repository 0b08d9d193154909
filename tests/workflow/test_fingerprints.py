"""Rerun fingerprints cover all the code a rule runs: every crelens module its script reaches.

Each rule passes `code=script_code("<stage>/<script>.py")` (rules/common.smk), the fingerprint of
the script and of its crelens import closure as `crelens.provenance` reads it from the source.
These tests check that claim against two other readings of the same code: the standard
library's `modulefinder` (which scans bytecode, function-level imports included) and the
interpreter itself (the crelens modules that importing a script's imports really loads).
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from modulefinder import ModuleFinder
from pathlib import Path

import pytest

from crelens.provenance import code_fingerprint, import_closure

from snakemake_runner import rule_blocks, rule_scripts

pytestmark = pytest.mark.workflow

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = REPO / "workflow/scripts"
RULES = rule_scripts()


def test_every_rule_that_runs_a_script_fingerprints_that_script():
    assert RULES, "no rules found"
    for rule, body in rule_blocks().items():
        if rule not in RULES:
            assert "script:" not in body and "shell:" not in body and "run:" not in body, rule
            continue
        codes = re.findall(r'^        code=script_code\("([^"]+)"\),$', body, re.MULTILINE)
        assert codes == [RULES[rule]], f"rule {rule}: code param {codes} does not name its script {RULES[rule]}"
        assert "code_version" not in body


def test_a_stage_rules_file_its_scripts_and_its_package_share_a_name():
    for smk in sorted((REPO / "rules").glob("*.smk")):
        if smk.stem == "common":
            continue
        assert (REPO / "src/crelens" / smk.stem / "__init__.py").exists(), smk.name
    for rule, script in RULES.items():
        stage = script.split("/")[0]
        assert rule in re.findall(
            r"^(?:local)?rule (\w+):", (REPO / "rules" / f"{stage}.smk").read_text(), re.MULTILINE
        ), f"rule {rule} runs workflow/scripts/{script} but is not in rules/{stage}.smk"


@pytest.mark.parametrize("script", sorted(set(RULES.values())))
def test_closure_contains_what_modulefinder_finds(script):
    finder = ModuleFinder(path=[str(REPO / "src")])  # only crelens is found; other imports are skipped
    finder.run_script(str(SCRIPTS / script))
    found = {name for name in finder.modules if name == "crelens" or name.startswith("crelens.")}
    assert found, script
    assert found <= set(import_closure(SCRIPTS / script)), sorted(found - set(import_closure(SCRIPTS / script)))


@pytest.mark.parametrize("script", sorted(set(RULES.values())))
def test_closure_contains_what_importing_the_script_loads(script):
    tree = ast.parse((SCRIPTS / script).read_text())
    imports = "\n".join(ast.unparse(node) for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom)))
    code = imports + "\nimport sys\nprint(sorted(m for m in sys.modules if m == 'crelens' or m.startswith('crelens.')))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    loaded = set(ast.literal_eval(loaded.strip()))
    assert loaded <= set(import_closure(SCRIPTS / script)), sorted(loaded - set(import_closure(SCRIPTS / script)))


def test_the_motif_stage_reads_attributions_without_the_model_stack():
    """The stored attribution format is torch-free, so motif jobs do not fingerprint (or load) models."""
    for rule in ("motif_enrichment", "motif_truth_check"):
        closure = import_closure(SCRIPTS / RULES[rule])
        assert "crelens.attribution.store" in closure
        assert not [m for m in closure if m.startswith(("crelens.models", "crelens.encoder"))], rule


def fingerprints(root: Path) -> dict[str, str]:
    return {rule: code_fingerprint(SCRIPTS / script, root) for rule, script in RULES.items()}


@pytest.fixture
def library(tmp_path):
    """A copy of the crelens package to edit (the checkout is untouched)."""
    root = tmp_path / "crelens"
    shutil.copytree(REPO / "src/crelens", root, ignore=shutil.ignore_patterns("__pycache__"))
    return root


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{path.name} no longer holds {old!r}"
    path.write_text(text.replace(old, new, 1))


def test_an_edit_of_logic_changes_exactly_the_rules_whose_scripts_reach_it(library):
    before = fingerprints(library)
    edit(
        library / "metrics.py",
        "return _correlation(y, p, stats.pearsonr)",
        "return 1.0 * _correlation(y, p, stats.pearsonr)",
    )
    after = fingerprints(library)
    changed = {rule for rule in RULES if before[rule] != after[rule]}
    expected = {
        rule for rule, script in RULES.items() if "crelens.metrics" in import_closure(SCRIPTS / script, library)
    }
    assert changed == expected
    assert {"train_head", "train_scratch", "train_joint", "evaluate", "compare_models"} <= changed
    assert not changed & {"simulate", "epi_dataset", "mpra_dataset", "pretrain_encoder", "cache_embeddings"}


def test_a_docstring_or_comment_edit_changes_no_rule(library):
    before = fingerprints(library)
    edit(
        library / "metrics.py",
        '"""Pearson r over non-NaN pairs;',
        '# reworded\n    """The Pearson r over the non-NaN pairs;',
    )
    edit(
        library / "encoder" / "scan.py",
        "Implementations (this module is the interface;",
        "Implementations (this is the interface;",
    )
    assert fingerprints(library) == before
