#!/usr/bin/env bash
# Install crelens and everything it needs into the current Python (3.11+). Safe to rerun.
#   system tools (Debian packages): bedtools (intergenic sampling), ncbi-blast+ (optional
#   HashFrag homology filter), as root also slurmctld slurmd slurm-client munge (for
#   tests/workflow/test_slurm.py, which starts and stops its own single-node cluster; no
#   services are started by the install); Python: torch 2.13.0 first (CPU build, pinned so
#   pip never swaps it for a CUDA build), then this package with its test and homology extras.
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}

missing=()
command -v bedtools >/dev/null 2>&1 || missing+=(bedtools)
command -v blastn >/dev/null 2>&1 || missing+=(ncbi-blast+)
if [ "$(id -u)" = 0 ]; then # SLURM for its test, root only (the test is skipped without it)
    for tool in slurmctld:slurmctld slurmd:slurmd sbatch:slurm-client munged:munge; do
        PATH="$PATH:/usr/sbin:/sbin" command -v "${tool%%:*}" >/dev/null 2>&1 || missing+=("${tool#*:}")
    done
fi
if ((${#missing[@]})); then
    if [ "$(id -u)" = 0 ]; then sudo=""; elif command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
        echo "setup.sh: please install the Debian packages: ${missing[*]}" >&2
        exit 1
    fi
    echo "setup.sh: installing ${missing[*]}"
    policy=/usr/sbin/policy-rc.d # exit 101: package scripts start no services (munged, slurmd, ...)
    if [ -z "$sudo" ] && [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy"
        trap 'rm -f "$policy"' EXIT
    else
        policy=""
    fi
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
    if [ -n "$policy" ]; then rm -f "$policy" && trap - EXIT; fi
fi

if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "setup.sh: crelens needs Python >= 3.11 ($("$PY" --version))" >&2
    exit 1
fi
if ! "$PY" -c 'import torch, sys; sys.exit(torch.__version__.split("+")[0] != "2.13.0")' 2>/dev/null; then
    echo "setup.sh: installing torch 2.13.0 (CPU)"
    "$PY" -m pip install -q torch==2.13.0
fi
echo "setup.sh: installing crelens"
"$PY" -m pip install -q -e ".[test,homology]"
echo "setup.sh: done"
