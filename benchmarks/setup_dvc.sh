#!/usr/bin/env bash
# Create a virtualenv holding DVC for the himo-vs-DVC benchmarks.
# Idempotent: does nothing when the venv's dvc already answers --version.
#
#   HIMO_BENCH_DVC_VENV   where to put the venv (default /tmp/himo-bench-dvc-venv)
#   HIMO_BENCH_DVC_SPEC   pip requirement for DVC (default "dvc")
#   PYTHON                interpreter used to create the venv (default python3)
set -euo pipefail

venv="${HIMO_BENCH_DVC_VENV:-/tmp/himo-bench-dvc-venv}"
spec="${HIMO_BENCH_DVC_SPEC:-dvc}"
python="${PYTHON:-python3}"

if "$venv/bin/dvc" --version >/dev/null 2>&1; then
    echo "dvc $("$venv/bin/dvc" --version) already installed in $venv"
    exit 0
fi

echo "creating $venv and installing $spec ..."
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet "$spec"
echo "dvc $("$venv/bin/dvc" --version) installed in $venv"
echo "use: python benchmarks/bench_storage.py --dvc $venv/bin/dvc"
