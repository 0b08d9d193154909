"""The conda environments of `--sdm conda` match pyproject.toml, and every rule names one."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[2]
ENVS = {"cpu": REPO / "envs/crelens.yaml", "gpu": REPO / "envs/crelens-gpu.yaml"}
# the workflow's own tools live in the submitting environment, not in job environments
SUBMIT_ONLY = {"snakemake", "snakefmt", "snakemake-executor-plugin-slurm"}


def pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]


def pip_section(path: Path) -> list[str]:
    spec = yaml.safe_load(path.read_text())
    sections = [d["pip"] for d in spec["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert len(sections) == 1, f"{path}: one pip section expected"
    return sections[0]


def requirements(path: Path) -> dict[str, Requirement]:
    """{normalised name: requirement} of an env's pip section (options and the -e line skipped)."""
    found = {}
    for line in pip_section(path):
        if line.startswith("-"):
            continue
        req = Requirement(line)
        found[re.sub(r"[-_.]+", "-", req.name).lower()] = req
    return found


def project_requirements(*extras: str) -> dict[str, Requirement]:
    project = pyproject()
    lines = project["dependencies"] + [r for extra in extras for r in project["optional-dependencies"][extra]]
    reqs = (Requirement(line) for line in lines)
    return {re.sub(r"[-_.]+", "-", r.name).lower(): r for r in reqs}


@pytest.mark.parametrize("flavour,extras", [("cpu", ()), ("gpu", ("gpu",))])
def test_env_pins_what_pyproject_requires(flavour, extras):
    env = requirements(ENVS[flavour])
    wanted = project_requirements(*extras)
    missing = set(wanted) - SUBMIT_ONLY - set(env)
    assert not missing, f"{ENVS[flavour].name} lacks {sorted(missing)} (pyproject.toml requires them)"
    extra = set(env) - set(wanted)
    assert not extra, f"{ENVS[flavour].name} has {sorted(extra)}, which pyproject.toml does not list"
    for name, req in env.items():
        if name == "torch":
            continue  # pinned exactly in the env; pyproject.toml accepts a range
        assert req.specifier == wanted[name].specifier, f"{ENVS[flavour].name}: {req} vs pyproject {wanted[name]}"


@pytest.mark.parametrize("flavour", ENVS)
def test_env_torch_is_the_tested_release_and_inside_pyprojects_range(flavour):
    torch = requirements(ENVS[flavour])["torch"]
    pinned = next(iter(torch.specifier)).version
    assert pinned.split("+")[0] == "2.13.0", f"{ENVS[flavour].name}: torch {pinned} (setup.sh installs 2.13.0)"
    assert project_requirements()["torch"].specifier.contains(pinned.split("+")[0])
    setup = (REPO / "setup.sh").read_text()
    assert "torch==2.13.0" in setup


@pytest.mark.parametrize("flavour", ENVS)
def test_env_installs_the_checkout_itself(flavour):
    assert "-e ${CRELENS_ROOT}" in pip_section(ENVS[flavour])
    common = (REPO / "rules/common.smk").read_text()
    assert 'os.environ["CRELENS_ROOT"] = workflow.basedir' in common


def test_cpu_env_takes_the_cpu_build_of_torch():
    lines = pip_section(ENVS["cpu"])
    assert any("download.pytorch.org/whl/cpu" in line for line in lines)
    assert "mamba-ssm" not in requirements(ENVS["cpu"])  # CUDA-only, cannot even be imported on CPU


def test_every_rule_names_an_existing_env():
    """Each rule's conda: is ENV or GPU_ENV, and both point at the files tested above."""
    common = (REPO / "rules/common.smk").read_text()
    paths = dict(re.findall(r'^(ENV|GPU_ENV) = "\.\./(envs/[^"]+)"', common, re.MULTILINE))
    assert {REPO / p for p in paths.values()} == set(ENVS.values())
    for smk in sorted((REPO / "rules").glob("*.smk")):
        text = smk.read_text()
        rules = re.split(r"^(?:local)?rule ", text, flags=re.MULTILINE)[1:]
        for body in rules:
            name = body.split(":", 1)[0]
            if "script:" not in body and "shell:" not in body and "run:" not in body:
                continue  # target rules run nothing
            env = re.search(r"^    conda:\n        (\w+)", body, re.MULTILINE)
            assert env and env.group(1) in paths, f"{smk.name}: rule {name} names no conda env from common.smk"
