"""Homology-aware test filtering with HashFrag (BLAST+ based), used by the dataset builder.

Random train/test splits of regulatory sequences leak: a test sequence that is a near copy
(or the reverse complement of a near copy) of a training sequence measures memorisation,
not generalisation. HashFrag (Rafi et al.; PyPI `hashfrag`, import `hashFrag`) finds such
pairs: it BLASTs test sequences against a database of the training sequences *and their
reverse complements* (`X_Reversed`), re-scores each best local alignment as
matches - mismatches - gap penalties, and calls a pair homologous at score >= threshold
(60 for 200-bp sequences in the paper).

We call HashFrag's module functions (`hashFrag.modules.<name>.run(argparse.Namespace)`)
rather than its console script, because the PyPI wheels (1.0.0-1.0.2) omit
`hashFrag/messages.json` and the `hashFrag` command crashes at start-up.
"""

from __future__ import annotations

import argparse
import logging
import re
import shutil
import tempfile
from pathlib import Path

from crelens.errors import InputError

# BLAST+ programs HashFrag shells out to (both ship in Debian's ncbi-blast+).
_BLAST_TOOLS = ("blastn", "makeblastdb")

# HashFrag's defaults (its argparse defaults in hashFrag/main.py); the score formula in
# process_blast_results_module uses the same reward/penalty/gap values as the search.
_BLAST_PARAMS = dict(
    word_size=11,
    gapopen=2,
    gapextend=1,
    penalty=-1,
    reward=1,
    max_target_seqs=500,
    xdrop_ungap=20.0,
    xdrop_gap=30.0,
    xdrop_gap_final=100.0,
    evalue=10,
    dust="no",
)

# HashFrag builds its BLAST commands as unquoted shell strings (subprocess shell=True),
# so its working folder must be a path the shell passes through unchanged.
_SHELL_SAFE_PATH = re.compile(r"^[A-Za-z0-9_./+,=@%:-]+$")


def _missing_blast_tools() -> list[str]:
    return [tool for tool in _BLAST_TOOLS if shutil.which(tool) is None]


def blast_available() -> bool:
    """True when `blastn` and `makeblastdb` are on PATH (HashFrag runs both)."""
    return not _missing_blast_tools()


def require_blast(what: str = "homology filtering", config_path=None) -> None:
    """Fail early, with an actionable message, when BLAST+ is missing.

    Called before any long work so a missing system package is reported as a
    configuration problem (naming `config_path` when given), not as a crash deep
    inside HashFrag's subprocess handling.
    """
    missing = _missing_blast_tools()
    if not missing:
        return
    tools = " and ".join(f"`{tool}`" for tool in missing)
    verb = "is" if len(missing) == 1 else "are"
    raise InputError(
        config_path,
        f"datasets.homology.enabled is true but {tools} {verb} not on PATH "
        f"(needed for {what}); install ncbi-blast+ (Debian: apt-get install ncbi-blast+) "
        "or set datasets.homology.enabled: false",
    )


def _import_hashfrag(config_path=None):
    """Import HashFrag's module functions, or explain how to get them."""
    try:
        from hashFrag.modules import (
            blastn_module,
            filter_candidates_module,
            process_blast_results_module,
        )
    except ImportError as exc:
        raise InputError(
            config_path,
            "datasets.homology.enabled is true but the Python package `hashFrag` cannot be "
            f"imported ({exc}); install it with pip install 'crelens[homology]' "
            "(or pip install hashfrag==1.0.2) or set datasets.homology.enabled: false",
        ) from exc
    return blastn_module, process_blast_results_module, filter_candidates_module


class _Collect(logging.Handler):
    """Routes HashFrag's log records to our `log` callable and keeps the errors."""

    def __init__(self, log):
        super().__init__(logging.INFO)
        self.log = log
        self.errors: list[str] = []

    def emit(self, record):
        msg = record.getMessage()
        if record.levelno >= logging.ERROR:
            self.errors.append(msg)
        if self.log is not None:
            self.log(f"hashFrag: {msg.strip()}")


def _write_fasta(path: Path, records) -> None:
    with open(path, "w", encoding="ascii") as fh:
        for seq_id, seq in records:
            fh.write(f">{seq_id}\n{seq}\n")


def homologous_test_ids(
    train: dict[str, str],
    test: dict[str, str],
    workdir,
    *,
    score_threshold: float = 60.0,
    threads: int = 1,
    log=None,
    config_path=None,
) -> set[str]:
    """IDs of test sequences homologous (HashFrag score >= threshold, either strand) to any train sequence.

    Runs HashFrag's `blastn_module` (train + reverse complements as the BLAST database,
    test as queries), `process_blast_results_module` (alignment re-scoring) and
    `filter_candidates_module` (score >= threshold) in `workdir`, then reads the pairs.

    Sequences are written under internal ids (`s<i>` train, `q<i>` test) so user ids with
    spaces, `|` (which BLAST parses) or a `_Reversed` suffix cannot confuse BLAST or
    HashFrag; `id_map.tsv` and `homologous_pairs.tsv` (original ids) are left in `workdir`.

    HashFrag's own `filter_test_split_module` is not used: in 1.0.2 it checks hits only
    against forward train ids, so test sequences matching only a train sequence's reverse
    complement (`X_Reversed`) are kept; it also derives its output name with
    `str.replace(".fa", ...)` on the whole path.

    `log` is an optional callable taking one string (e.g. `print` or `logger.info`).
    """
    require_blast(config_path=config_path)
    blastn_module, process_module, candidates_module = _import_hashfrag(config_path)

    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)

    # Empty sequences cannot align and make makeblastdb fail; nothing to do without both sides.
    train_items = [(k, v.upper()) for k, v in train.items() if v]
    test_items = [(k, v.upper()) for k, v in test.items() if v]
    if not train_items or not test_items:
        return set()

    run_dir = workdir.resolve()
    tmp_dir = None
    if not _SHELL_SAFE_PATH.match(str(run_dir)):
        # HashFrag's shell commands would split or misread this path; run somewhere plain.
        tmp_dir = tempfile.mkdtemp(prefix="crelens-hashfrag-")
        run_dir = Path(tmp_dir).resolve()
        if log is not None:
            log(f"homology: {workdir} is not shell-safe for HashFrag; running in {run_dir}")

    handler = _Collect(log)
    hf_logger = logging.getLogger("hashFrag")
    saved = (hf_logger.level, hf_logger.propagate)
    hf_logger.addHandler(handler)
    hf_logger.setLevel(logging.INFO)
    hf_logger.propagate = False
    step = "setup"
    try:
        train_ids = {f"s{i}": k for i, (k, _) in enumerate(train_items)}
        test_ids = {f"q{i}": k for i, (k, _) in enumerate(test_items)}
        with open(workdir / "id_map.tsv", "w", encoding="utf-8") as fh:
            fh.write("internal_id\tsplit\tid\n")
            for split, ids in (("train", train_ids), ("test", test_ids)):
                for internal, original in ids.items():
                    fh.write(f"{internal}\t{split}\t{original}\n")

        train_fa = run_dir / "train.fa"
        test_fa = run_dir / "test.fa"
        _write_fasta(train_fa, ((f"s{i}", s) for i, (_, s) in enumerate(train_items)))
        _write_fasta(test_fa, ((f"q{i}", s) for i, (_, s) in enumerate(test_items)))
        blast_out = run_dir / "test.blastn.out"  # name fixed by HashFrag: <query label>.blastn.out
        scored = run_dir / "test.blastn.processed.tsv"
        pairs_path = run_dir / "hashFrag.similar_pairs.tsv"  # name fixed by HashFrag
        for stale in (blast_out, scored, pairs_path):
            stale.unlink(missing_ok=True)

        step = "blastn_module"
        blastn_module.run(
            argparse.Namespace(
                fasta_path=None,
                train_fasta_path=str(train_fa),
                test_fasta_path=str(test_fa),
                exec_makeblastdb_only=False,
                skip_revcomp=False,  # HashFrag adds `X_Reversed` to the database: both strands
                blastdb_label="train",
                threads=int(threads),
                force=True,  # never reuse a database or hits from an earlier call
                output_dir=str(run_dir),
                **_BLAST_PARAMS,
            )
        )
        if not blast_out.exists() or blast_out.stat().st_size == 0:
            # No local alignment at all; HashFrag's result parser rejects an empty file.
            return _finish(workdir, [], log, len(test_items))

        step = "process_blast_results_module"
        process_module.run(
            argparse.Namespace(
                blastn_path=str(blast_out),
                processed_blastn_path=str(scored),
                **{k: _BLAST_PARAMS[k] for k in ("word_size", "gapopen", "gapextend", "penalty", "reward")},
            )
        )

        step = "filter_candidates_module"
        candidates_module.run(
            argparse.Namespace(input_path=str(scored), threshold=float(score_threshold), output_dir=str(run_dir))
        )

        step = "reading hashFrag.similar_pairs.tsv"
        pairs = []
        with open(pairs_path, encoding="utf-8") as fh:
            for line in fh:
                fields = line.rstrip("\n").split("\t")
                if len(fields) < 3:
                    continue
                query, subject, score = fields[0], fields[1], fields[2]
                subject_fwd = subject.removesuffix("_Reversed")
                if query not in test_ids or subject_fwd not in train_ids:
                    continue
                strand = "-" if subject.endswith("_Reversed") else "+"
                pairs.append((test_ids[query], train_ids[subject_fwd], strand, score))
        return _finish(workdir, pairs, log, len(test_items))
    except InputError:
        raise
    except Exception as exc:
        detail = "; ".join(e.strip() for e in handler.errors) or f"{type(exc).__name__}: {exc}"
        raise RuntimeError(f"HashFrag homology search failed in {step} (workdir {run_dir}): {detail}") from exc
    finally:
        hf_logger.removeHandler(handler)
        hf_logger.setLevel(saved[0])
        hf_logger.propagate = saved[1]
        if tmp_dir is not None:
            shutil.rmtree(tmp_dir, ignore_errors=True)


def _finish(workdir: Path, pairs, log, n_test: int) -> set[str]:
    """Write the homologous pairs under original ids (for audit) and return the flagged test ids."""
    with open(workdir / "homologous_pairs.tsv", "w", encoding="utf-8") as fh:
        fh.write("test_id\ttrain_id\ttrain_strand\tscore\n")
        for row in pairs:
            fh.write("\t".join(row) + "\n")
    flagged = {test_id for test_id, *_ in pairs}
    if log is not None:
        log(f"homology: {len(flagged)} of {n_test} test sequences homologous to train")
    return flagged
