"""The repository's SLURM profile on a real single-node SLURM (127.0.0.1, one fake GPU).

A slice of the default DAG on the tiny config goes through `--profile profiles/slurm` plus a
second, test-only profile for what differs on this throwaway cluster (partition, `squeue`
status command, short status intervals, few jobs). SLURM's own records of the finished jobs
(`scontrol show job -d`, kept for MinJobAge) show that the GPU rules got the GPU gres and the
CPU jobs did not. Root only (the cluster is started and stopped by the test, see
tests/slurm_cluster.py); skipped otherwise. About 2 minutes.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from slurm_cluster import SlurmUnavailable, running_cluster
from snakemake_runner import REPO, describe, snakemake

pytestmark = [pytest.mark.slurm, pytest.mark.workflow]

PROFILE = REPO / "profiles/slurm"
# simulate -> prepare_genome -> mpra_dataset (group job `data`) -> pretrain_encoder (GPU) ->
# cache_embeddings for one table (GPU) and the loss curve figure (a plain CPU job).
TARGETS = ["results/cache/mpra/manifest.json", "results/encoder/loss_curve.png"]
SUBMITTED = {  # what the plugin names the jobs' log folders: rule_<rule> or group_<group>
    "group_data": False,  # (needs a GPU)
    "rule_pretrain_encoder": True,
    "rule_cache_embeddings": True,
    "rule_encoder_loss_curve": False,
}
SUBMISSION = re.compile(r"has been submitted with SLURM jobid (\d+) \(log: (\S+?)\)")


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    """A running test cluster; every daemon stopped and /etc/slurm restored afterwards."""
    logs = tmp_path_factory.mktemp("slurm_daemon_logs")
    try:
        with running_cluster(keep_logs_in=logs) as cluster:
            yield cluster
    except SlurmUnavailable as exc:
        pytest.skip(f"no test SLURM cluster: {exc}")


def cluster_profile(folder: Path, partition: str) -> Path:
    """The test cluster's settings on top of profiles/slurm (a later --profile wins per key)."""
    base = yaml.safe_load((PROFILE / "config.yaml").read_text())
    folder.mkdir()
    settings = {
        # default-resources is replaced as a whole: keep the repository's and add the partition.
        "default-resources": {**base["default-resources"], "slurm_partition": partition},
        "slurm-status-command": "squeue",  # no slurmdbd here, so no sacct
        "slurm-init-seconds-before-status-checks": 2,
        "seconds-between-status-checks": 2,
        "slurm-keep-successful-logs": True,
        "jobs": 4,
        "retries": 0,
        "latency-wait": 5,
    }
    (folder / "config.yaml").write_text(yaml.safe_dump(settings, sort_keys=False))
    return folder


def test_profile_runs_a_slice_on_slurm_with_gpu_jobs(slurm, tmp_path):
    workdir = tmp_path / "run"
    override = cluster_profile(tmp_path / "test_cluster", slurm.partition)
    proc = snakemake(workdir, *TARGETS, "--profile", PROFILE, "--profile", override, timeout=600)
    failure = f"{describe(proc)}\nslurmctld.log:\n{slurm.log('slurmctld')[-3000:]}"
    assert proc.returncode == 0, failure
    for target in TARGETS:
        assert (workdir / target).is_file(), f"{target} missing\n{failure}"

    submitted = {}  # rule_<rule> / group_<group> -> (SLURM job id, SLURM log)
    for job_id, log in SUBMISSION.findall(proc.output):
        folder = Path(log).relative_to(workdir / ".snakemake/slurm_logs").parts[0]
        # a group job's folder is group_<group>_<its rules>
        name = next((n for n in SUBMITTED if folder == n or folder.startswith(f"{n}_")), folder)
        submitted[name] = (job_id, Path(log))
        assert Path(log).is_file(), f"SLURM log {log} missing\n{failure}"
    assert set(submitted) == set(SUBMITTED), failure

    for name, (job_id, _) in submitted.items():
        record = slurm.show_job(job_id)
        assert "JobState=COMPLETED" in record, f"{name}:\n{record}"
        assert f"Partition={slurm.partition}" in record, f"{name}:\n{record}"
        if SUBMITTED[name]:
            # requested (--gpus=1 from `gpu: 1`) and allocated on the node
            assert "TresPerJob=gres:gpu:1" in record, f"{name} asked for no GPU:\n{record}"
            assert re.search(r"JOB_GRES=gpu:1\b", record), f"{name} got no GPU:\n{record}"
        else:
            assert "gpu" not in record, f"{name} should not hold a GPU:\n{record}"
    # One SLURM job ran the whole data group.
    group_log = submitted["group_data"][1].read_text()
    for rule in ("simulate", "prepare_genome", "mpra_dataset"):
        assert f"rule {rule}:" in group_log, f"{rule} not in the group job:\n{group_log[-3000:]}"
