#!/usr/bin/env bash
# Downloads what tools/gpu_offline_check.sh installs on a CUDA machine without network
# (docs/gpu.md): the OpenMMLab packages of requirements/mminstall.txt, their dependencies that
# such a machine lacks (requirements/gpu_offline.txt), setuptools < 81 for building mmcv, all as
# wheels for that machine's Python, and the mmcv sdist. Prints the total size: with the repository
# it must stay under what one command may carry there (64 MiB).
#
# Usage: tools/gpu_wheels.sh [OUT_DIR]   (default .gpu/wheels)
# GPU_PYTHON_VERSION (default 3.12) is the target machine's Python; the project's .venv runs pip.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:-$root/.gpu/wheels}"
python_version="${GPU_PYTHON_VERSION:-3.12}"
venv_python="$root/.venv/bin/python"
[[ -x "$venv_python" ]] || { echo "no $venv_python: run make setup first" >&2; exit 1; }
pip=("$venv_python" -m pip --disable-pip-version-check --no-input)
# This machine kind's pip config lists local indexes whose missing folders warn on every package.
quiet_pip_config() { grep -v 'is ignored: it is neither a file nor a directory' >&2 || true; }
mmcv_version=2.1.0

rm -rf "$out"
mkdir -p "$out"
# Binary wheels (pycocotools, shapely, regex) for the manylinux flavours pip accepts there.
platforms=()
for tag in manylinux_2_28 manylinux_2_27 manylinux_2_17 manylinux2014 manylinux1; do
    platforms+=(--platform "${tag}_x86_64")
done
"${pip[@]}" download -q --no-deps --only-binary=:all: --python-version "$python_version" \
    --implementation cp "${platforms[@]}" -d "$out" \
    -r "$root/requirements/mminstall.txt" -r "$root/requirements/gpu_offline.txt" \
    "$(grep '^setuptools' "$root/requirements/build.txt")" 2> >(quiet_pip_config)
# The sdist's metadata step imports pkg_resources: the venv's setuptools (< 81), no isolation.
"${pip[@]}" download -q --no-deps --no-build-isolation --no-binary :all: "mmcv==$mmcv_version" \
    -d "$out" 2> >(quiet_pip_config)

ls -1 "$out"
echo "$(ls "$out" | wc -l) files, $(du -sb "$out" | cut -f1) bytes in $out"
