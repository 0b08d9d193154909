"""One fault probe through the real workflow (tests/faults).

A probe breaks one input of a private copy of a clean run, asks Snakemake for the outputs that
read it, and checks the failure: a non-zero exit, a message naming the file and the problem, the
job's outputs gone and no temporary file left anywhere under results/. It then repairs the input,
asks again, and checks that the repaired rerun writes the clean run's bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from snakemake_runner import TINY, copy_run, describe, part_files, snakemake


def probe(
    clean: Path,
    workdir: Path,
    *,
    path: str,
    corrupt: Callable[[bytes], bytes | None],
    targets: Sequence[str],
    expect: Sequence[str],
    outputs: Sequence[str] = (),
    args: Sequence[str] = (),
    configfile: Path = TINY,
):
    """Break `path` (relative to the run) with `corrupt` (None: delete it), run `targets`, check the
    failure names every text of `expect` and left none of `outputs` (default: the targets); restore
    the file, run again, and check that results/ is the clean run's, byte for byte. Returns the
    failed process."""
    run = copy_run(clean, workdir)
    source = run / path
    original = source.read_bytes()
    broken = corrupt(original)
    if broken is None:
        source.unlink()
    else:
        assert broken != original, "the corruption must change the file"
        source.write_bytes(broken)
    # mtime only: the probe is about the broken file, not about fingerprints of library code.
    command = [*targets, "--rerun-triggers", "mtime", *args]
    failed = snakemake(run, *command, configfile=configfile)
    assert failed.returncode != 0, describe(failed)
    print("\n".join(line for line in failed.output.splitlines() if "Error:" in line))  # shown by pytest -rP
    missing = [text for text in expect if text not in failed.output]
    assert not missing, f"the message lacks {missing}; {describe(failed)}"
    outputs = list(outputs or targets)
    left = [out for out in outputs if (run / out).exists()]
    assert not left, f"outputs of the failed job are left: {left}"
    left = part_files(run / "results", recursive=True)
    assert left == [], f"temporary files are left: {left}"

    source.write_bytes(original)
    repaired = snakemake(run, *command, configfile=configfile)
    assert repaired.returncode == 0, describe(repaired)
    assert_same_results(clean, run)
    return failed


def reproduced(root: Path) -> list[Path]:
    """The files under results/ that a rerun must reproduce byte for byte (README, "Reproducibility"):
    everything but logs/ and benchmarks/ (wall-clock timings) and predict/ (made on request)."""
    files = (p.relative_to(root) for p in (root / "results").rglob("*") if p.is_file())
    return sorted(p for p in files if p.parts[1] not in {"logs", "benchmarks", "predict"})


def assert_same_results(clean: Path, run: Path) -> None:
    """`run` holds exactly the clean run's reproduced files, with the same bytes."""
    files = reproduced(clean)
    assert reproduced(run) == files
    differ = [str(p) for p in files if (run / p).read_bytes() != (clean / p).read_bytes()]
    assert not differ, f"differs from the clean run: {differ}"


def replace_line(number: int, edit: Callable[[list[str]], list[str]], sep: str = "\t"):
    """A corruption that edits the fields of line `number` (1-based) of a text file."""

    def corrupt(data: bytes) -> bytes:
        lines = data.decode().split("\n")
        lines[number - 1] = sep.join(edit(lines[number - 1].split(sep)))
        return "\n".join(lines).encode()

    return corrupt


def set_field(number: int, column: int, value: str, sep: str = "\t"):
    """A corruption that sets field `column` (0-based) of line `number` (1-based) to `value`."""

    def edit(fields: list[str]) -> list[str]:
        fields[column] = value
        return fields

    return replace_line(number, edit, sep)
