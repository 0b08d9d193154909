"""Running Snakemake on the repository's workflow from tests, and reading what it printed."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SNAKEFILE = REPO / "Snakefile"
TINY = REPO / "tests/workflow/tiny.yaml"
TABLE = REPO / "tests/workflow/tiny_table.yaml"


def snakemake(workdir, *args, configfile=TINY, env: dict | None = None, timeout: float = 1800):
    """Run Snakemake on the repository's Snakefile in `workdir`; stdout and stderr together in .output."""
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(SNAKEFILE),
        "--directory",
        str(workdir),
        "--cores",
        "2",
        f"--configfile={configfile}",  # the = form: a bare --configfile would swallow targets
        *map(str, args),
    ]
    full_env = {**os.environ, "no_proxy": "127.0.0.1,localhost", "NO_PROXY": "127.0.0.1,localhost", **(env or {})}
    proc = subprocess.run(
        cmd, cwd=REPO, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout
    )
    proc.output = proc.stdout
    return proc


def describe(proc) -> str:
    """The tail of a run's output, for assertion messages."""
    return f"exit {proc.returncode}; output:\n{proc.output[-6000:]}"


def job_stats(output: str) -> dict[str, int]:
    """The first 'Job stats' table of a Snakemake run: {rule: count} without the total; {} if none."""
    lines = output.splitlines()
    try:
        start = lines.index("Job stats:")
    except ValueError:
        return {}
    stats = {}
    for line in lines[start + 3 :]:  # skip the "job count" header and the dashes
        fields = line.split()
        if len(fields) != 2:
            break
        if fields[0] != "total":
            stats[fields[0]] = int(fields[1])
    return stats


def copy_run(clean: Path, dest: Path) -> Path:
    """A private copy of a finished run (results and .snakemake metadata, modification times kept),
    so that a test can break it without touching the shared clean run."""
    shutil.copytree(clean, dest, symlinks=True)
    return dest


def part_files(folder: Path, recursive: bool = False) -> list[Path]:
    """Temporary files left by atomic writes and downloads (.<name>.<random>.part) in `folder`, or
    anywhere below it with `recursive`."""
    if not folder.exists():
        return []
    found = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(p for p in found if ".part" in p.name)


RULE = re.compile(r"^(?:local)?rule (\w+):\n(.*?)(?=^(?:local)?rule |\Z)", re.MULTILINE | re.DOTALL)


def rule_blocks() -> dict[str, str]:
    """{rule name: its text} of every rule in rules/*.smk."""
    blocks = {}
    for smk in sorted((REPO / "rules").glob("*.smk")):
        for name, body in RULE.findall(smk.read_text()):
            blocks[name] = body
    return blocks


def rule_scripts() -> dict[str, str]:
    """{rule: its script, relative to workflow/scripts} of every rule that runs a script."""
    scripts = {}
    for name, body in rule_blocks().items():
        match = re.search(r'^    script:\n        "\.\./workflow/scripts/([^"]+)"', body, re.MULTILINE)
        if match:
            scripts[name] = match.group(1)
    return scripts
