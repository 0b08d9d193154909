"""Job time per stage of a finished run, from Snakemake's benchmark files; JSON on the last line.

    python benchmarks/stage_times.py [--results results]

Every heavy rule writes `results/benchmarks/<rule>[/<wildcards>].tsv` (wall seconds, peak RSS).
Rules are grouped by the stage whose rules file defines them (rules/<stage>.smk), so the table
reads like the README's: where the time of a run goes, and each stage's share of it.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]


def rule_stages() -> dict[str, str]:
    """{rule: stage} from the rules files."""
    stages = {}
    for smk in sorted((REPO / "rules").glob("*.smk")):
        for rule in re.findall(r"^(?:local)?rule (\w+):", smk.read_text(), re.MULTILINE):
            stages[rule] = smk.stem
    return stages


def stage_times(results: Path) -> pd.DataFrame:
    """One row per benchmarked job: stage, rule, job, seconds, max_rss_mb."""
    stages = rule_stages()
    rows = []
    for tsv in sorted((results / "benchmarks").rglob("*.tsv")):
        relative = tsv.relative_to(results / "benchmarks")
        rule = relative.parts[0] if len(relative.parts) > 1 else relative.stem
        bench = pd.read_csv(tsv, sep="\t")
        rows.append(
            {
                "stage": stages.get(rule, "?"),
                "rule": rule,
                "job": str(relative.with_suffix("")),
                "seconds": float(bench["s"].iloc[0]),
                "max_rss_mb": float(bench["max_rss"].iloc[0]),
            }
        )
    return pd.DataFrame(rows, columns=["stage", "rule", "job", "seconds", "max_rss_mb"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=Path("results"))
    args = parser.parse_args()
    jobs = stage_times(args.results)
    if jobs.empty:
        raise SystemExit(f"no benchmark files under {args.results / 'benchmarks'}")
    by_stage = jobs.groupby("stage").agg(
        jobs=("job", "size"), seconds=("seconds", "sum"), max_rss_mb=("max_rss_mb", "max")
    )
    by_stage = by_stage.sort_values("seconds", ascending=False)
    total = by_stage.seconds.sum()
    print("| stage | jobs | job time (s) | share | peak RSS (MB) |\n|---|---|---|---|---|")
    for stage, row in by_stage.iterrows():
        print(f"| {stage} | {row.jobs} | {row.seconds:,.0f} | {row.seconds / total:.0%} | {row.max_rss_mb:,.0f} |")
    print(f"| total | {len(jobs)} | {total:,.0f} | 100% | |")
    by_rule = jobs.groupby("rule").seconds.sum().sort_values(ascending=False)
    print("\nslowest rules: " + ", ".join(f"{rule} {seconds:,.0f} s" for rule, seconds in by_rule.head(6).items()))
    print(
        json.dumps(
            {
                "total_job_seconds": round(total, 1),
                "stages": by_stage.seconds.round(1).to_dict(),
                "rules": by_rule.round(1).to_dict(),
            }
        )
    )


if __name__ == "__main__":
    main()
