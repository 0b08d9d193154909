"""A throwaway single-node SLURM cluster on 127.0.0.1 for tests (Debian, as root).

`ensure_installed()` installs the Debian packages when they are missing (root only, no services
started); `running_cluster(keep_logs_in)` starts munged (unless one already answers), slurmctld
and slurmd with one fake GPU (gres `gpu` on /dev/null), waits until the node is idle, and on
leaving always cancels the jobs, stops every daemon it started by its PID file and restores
/etc/slurm. Both raise `SlurmUnavailable` when the machine cannot host such a cluster (not
root, packages not installable, a real SLURM already running); tests turn that into a skip.
Daemons that are installed but do not come up are an error (RuntimeError, with their logs).

Facts this relies on (snakemake-executor-plugin-slurm's source, SLURM's slurm.conf manual): the configuration must be at
/etc/slurm/slurm.conf, because the executor plugin's job step drops SLURM_CONF before its
inner srun; without cgroups (containers) proctrack/linuxproc and task/none work; without
slurmdbd only squeue can report job states, so MinJobAge keeps finished jobs visible.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

PACKAGES = ("slurmctld", "slurmd", "slurm-client", "munge")
# One program of each package, to tell whether it is installed.
PROGRAMS = {"slurmctld": "slurmctld", "slurmd": "slurmd", "slurm-client": "sbatch", "munge": "munged"}
SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin", "/usr/bin"])
CONF_DIR = Path("/etc/slurm")
CONF_FILES = ("slurm.conf", "gres.conf")
POLICY_RC = Path("/usr/sbin/policy-rc.d")
PARTITION = "crelens"
MIN_JOB_AGE = 900  # seconds a finished job stays in squeue / scontrol show job


class SlurmUnavailable(RuntimeError):
    """This machine cannot run the test cluster; the message says why."""


def which(program: str) -> str | None:
    return shutil.which(program, path=SEARCH_PATH)


def _run(cmd, timeout: float = 60, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(c) for c in cmd],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
        check=check,
        **kwargs,
    )


def missing_packages() -> list[str]:
    return [pkg for pkg in PACKAGES if which(PROGRAMS[pkg]) is None]


@contextlib.contextmanager
def services_blocked():
    """Keep package scripts from starting daemons (invoke-rc.d / deb-systemd-invoke ask policy-rc.d)."""
    if POLICY_RC.exists():  # containers usually have one that denies everything already
        yield
        return
    POLICY_RC.write_text("#!/bin/sh\n# crelens tests: no daemons from package installs\nexit 101\n")
    POLICY_RC.chmod(0o755)
    try:
        yield
    finally:
        POLICY_RC.unlink(missing_ok=True)


def ensure_installed() -> None:
    """Install the missing Debian packages (root only); SlurmUnavailable when that cannot be done."""
    missing = missing_packages()
    if not missing:
        return
    if os.geteuid() != 0:
        raise SlurmUnavailable(f"Debian packages {' '.join(missing)} missing and not root (run setup.sh as root)")
    if which("apt-get") is None:
        raise SlurmUnavailable(f"Debian packages {' '.join(missing)} missing and no apt-get to install them")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        with services_blocked():
            _run(["apt-get", "update", "-qq"], timeout=600, env=env)
            _run(["apt-get", "install", "-y", "-qq", *missing], timeout=900, env=env)
    except subprocess.CalledProcessError as exc:
        raise SlurmUnavailable(f"apt-get could not install {' '.join(missing)}: {exc.stdout[-2000:]}") from None
    except (subprocess.TimeoutExpired, OSError) as exc:
        raise SlurmUnavailable(f"apt-get could not install {' '.join(missing)}: {exc}") from None
    still = missing_packages()
    if still:
        raise SlurmUnavailable(f"after apt-get install, programs of {' '.join(still)} are still missing")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _pids(name: str) -> set[int]:
    """PIDs of processes whose program name is exactly `name`."""
    proc = _run(["pgrep", "-x", name], check=False)
    return {int(p) for p in proc.stdout.split()}


def _wait(predicate, timeout: float, what: str, interval: float = 0.5):
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of ours counts as gone.
    with contextlib.suppress(ChildProcessError):
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    return True


def _stop_pid(pid: int, timeout: float = 15) -> None:
    """SIGTERM, then SIGKILL if it is still there after `timeout` seconds."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    if _alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _stop_by_pid_file(pid_file: Path) -> None:
    try:
        pid = int(pid_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return
    _stop_pid(pid)


def munge_works() -> bool:
    munge, unmunge = which("munge"), which("unmunge")
    if not (munge and unmunge):
        return False
    try:
        cred = _run([munge, "-n"], timeout=10, check=False)
        if cred.returncode != 0:
            return False
        return _run([unmunge], timeout=10, check=False, input=cred.stdout).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def _node_memory_mb() -> int:
    with open("/proc/meminfo") as handle:
        for line in handle:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    return 0


@dataclass
class Cluster:
    host: str
    partition: str
    scratch: Path

    def log(self, daemon: str) -> str:
        """slurmctld or slurmd log text so far (for assertion messages)."""
        path = self.scratch / "log" / f"{daemon}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def show_job(self, job_id: str | int) -> str:
        """`scontrol show job -d` of one job (finished jobs stay for MinJobAge seconds)."""
        return _run([which("scontrol"), "show", "job", "-d", str(job_id)], check=False).stdout


def slurm_conf(host: str, scratch: Path, ctld_port: int, slurmd_port: int) -> str:
    # Rules ask for 1 thread (2 in a group batch); 4 CPUs let two batches run side by side
    # (config_overrides: the node may claim more CPUs and memory than the machine has).
    cpus = max(os.cpu_count() or 1, 4)
    memory = max(_node_memory_mb(), 65536)  # the profile's mem_mb requests, on any machine
    return f"""\
# crelens test cluster (tests/slurm_cluster.py); restored/removed when the test ends.
ClusterName=crelens
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
AuthType=auth/munge
CryptoType=crypto/munge
SlurmUser=slurm
SlurmdUser=root
StateSaveLocation={scratch}/state
SlurmdSpoolDir={scratch}/spool
SlurmctldPidFile={scratch}/run/slurmctld.pid
SlurmdPidFile={scratch}/run/slurmd.pid
SlurmctldLogFile={scratch}/log/slurmctld.log
SlurmdLogFile={scratch}/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
ReturnToService=2
SlurmdParameters=config_overrides
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MinJobAge={MIN_JOB_AGE}
InactiveLimit=0
KillWait=5
Waittime=0
GresTypes=gpu
NodeName={host} NodeHostname={host} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={memory} Gres=gpu:1 State=UNKNOWN
PartitionName={PARTITION} Nodes={host} Default=YES MaxTime=INFINITE State=UP
"""


@contextlib.contextmanager
def _munge(scratch: Path):
    """munged for the test: the running one if it answers, else one of ours (stopped afterwards)."""
    if munge_works():
        yield
        return
    key = Path("/etc/munge/munge.key")
    if not key.exists():
        _run([which("mungekey"), "--create", "--keyfile", key])
        shutil.chown(key, "munge", "munge")
        key.chmod(0o400)
    run_dir = Path("/run/munge")  # where munge and slurm look for the socket
    run_dir.mkdir(mode=0o755, exist_ok=True)
    shutil.chown(run_dir, "munge", "munge")
    own = scratch / "munge"
    own.mkdir(mode=0o700)
    shutil.chown(own, "munge", "munge")
    pid_file = own / "munged.pid"
    try:
        _run(
            [
                which("runuser"),
                "-u",
                "munge",
                "--",
                which("munged"),
                "--force",
                f"--pid-file={pid_file}",
                f"--log-file={own}/munged.log",
                f"--seed-file={own}/munged.seed",
            ]
        )
        _wait(munge_works, 20, "munged to answer")
        yield
    finally:
        _stop_by_pid_file(pid_file)


@contextlib.contextmanager
def _slurm_config(conf: str, gres: str):
    """Write /etc/slurm/{slurm,gres}.conf; put back what was there before, always."""
    created_dir = not CONF_DIR.exists()
    CONF_DIR.mkdir(parents=True, exist_ok=True)
    saved = {}
    try:
        for name in CONF_FILES:
            path = CONF_DIR / name
            if path.exists():
                saved[name] = path.with_name(f"{name}.crelens-test-backup")
                os.replace(path, saved[name])
        (CONF_DIR / "slurm.conf").write_text(conf)
        (CONF_DIR / "gres.conf").write_text(gres)
        yield
    finally:
        for name in CONF_FILES:
            path = CONF_DIR / name
            if name in saved:
                os.replace(saved[name], path)
            else:
                path.unlink(missing_ok=True)
        if created_dir:
            with contextlib.suppress(OSError):
                CONF_DIR.rmdir()


def _node_state(sinfo: str, host: str) -> str:
    proc = _run([sinfo, "-h", "-N", "-n", host, "-o", "%t"], check=False, timeout=10)
    return proc.stdout.strip() if proc.returncode == 0 else ""


@contextlib.contextmanager
def running_cluster(keep_logs_in: Path | None = None):
    """A single-node cluster (partition `PARTITION`, one fake GPU) for the duration of the block."""
    if os.geteuid() != 0:
        raise SlurmUnavailable("starting slurmctld/slurmd/munged needs root")
    ensure_installed()
    for daemon in ("slurmctld", "slurmd"):
        if _pids(daemon):
            raise SlurmUnavailable(f"{daemon} is already running on this machine; not touching a real cluster")
    try:
        pwd.getpwnam("slurm"), pwd.getpwnam("munge")
    except KeyError as exc:
        raise SlurmUnavailable(f"system user missing after installing the packages: {exc}") from None
    host = socket.gethostname().split(".")[0]
    steps_before = _pids("slurmstepd")
    # Not under pytest's tmp folder: that is private to root, and slurmctld runs as `slurm`.
    scratch = Path(tempfile.mkdtemp(prefix="crelens-slurm-"))
    scratch.chmod(0o755)
    for sub in ("state", "spool", "run", "log"):
        (scratch / sub).mkdir()
        shutil.chown(scratch / sub, "slurm", "slurm")
    conf = slurm_conf(host, scratch, _free_port(), _free_port())
    gres = f"NodeName={host} Name=gpu File=/dev/null\n"
    sinfo, scancel = which("sinfo"), which("scancel")
    try:
        with _munge(scratch), _slurm_config(conf, gres):
            try:
                _run([which("slurmctld")], timeout=30)
                _run([which("slurmd")], timeout=30)
                cluster = Cluster(host, PARTITION, scratch)
                try:
                    _wait(lambda: _node_state(sinfo, host) == "idle", 60, f"node {host} to be idle in sinfo")
                except TimeoutError as exc:
                    raise RuntimeError(
                        f"{exc}; sinfo says {_node_state(sinfo, host)!r}\nslurmctld.log:\n{cluster.log('slurmctld')[-3000:]}"
                        f"\nslurmd.log:\n{cluster.log('slurmd')[-3000:]}"
                    ) from None
                yield cluster
            finally:
                with contextlib.suppress(Exception):
                    _run([scancel, "--partition", PARTITION], check=False, timeout=10)
                    _wait(lambda: not (_pids("slurmstepd") - steps_before), 20, "job steps to end")
                _stop_by_pid_file(scratch / "run" / "slurmd.pid")
                _stop_by_pid_file(scratch / "run" / "slurmctld.pid")
                for pid in _pids("slurmstepd") - steps_before:  # steps of our jobs only
                    _stop_pid(pid, timeout=5)
                left = {d: _pids(d) for d in ("slurmctld", "slurmd")}
                if any(left.values()):
                    raise RuntimeError(f"SLURM daemons still running after the test: {left}")
    finally:
        if keep_logs_in is not None:
            keep_logs_in.mkdir(parents=True, exist_ok=True)
            for log in (scratch / "log").glob("*.log"):
                shutil.copy(log, keep_logs_in / log.name)
        shutil.rmtree(scratch, ignore_errors=True)
