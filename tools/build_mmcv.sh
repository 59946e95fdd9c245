#!/usr/bin/env bash
# Builds an mmcv wheel with its ops from the mmcv sdist, against the torch of the given Python.
#
# Usage: tools/build_mmcv.sh PYTHON SDIST OUT_DIR
#
# CPU kernels only, unless FORCE_CUDA=1: then the CUDA kernels too, for the architectures in
# TORCH_CUDA_ARCH_LIST (e.g. "9.0" or "8.6;9.0"), compiled by the nvcc of CUDA_HOME. MAX_JOBS
# parallel compile jobs (default: all cores). PYTHON must have torch, setuptools < 81 (mmcv's
# setup.py imports pkg_resources) and wheel; nothing is downloaded. Used by tools/setup_env.sh and
# by the GPU check on a machine without network (docs/gpu.md).
set -euo pipefail

if [[ $# -ne 3 ]]; then
    echo "usage: $0 PYTHON SDIST OUT_DIR" >&2
    exit 2
fi
python_bin="$1"
sdist="$2"
out="$3"
[[ -f "$sdist" ]] || { echo "build_mmcv: no sdist at $sdist" >&2; exit 2; }
if [[ "${FORCE_CUDA:-0}" == 1 && -z "${TORCH_CUDA_ARCH_LIST:-}" ]]; then
    echo "build_mmcv: FORCE_CUDA=1 needs TORCH_CUDA_ARCH_LIST, e.g. TORCH_CUDA_ARCH_LIST=9.0" >&2
    exit 2
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
tar -xzf "$sdist" -C "$work"
src="$(echo "$work"/mmcv-*)"

# mmcv 2.1.0's setup.py hard-codes -std=c++17. torch >= 2.12's headers stop with "C++20 or later
# compatible compiler is required"; older ones build with C++17, so the standard follows torch.
torch_dir="$("$python_bin" -c 'import os, torch; print(os.path.dirname(torch.__file__))')"
if grep -q 'C++20 or later' "$torch_dir/include/torch/csrc/api/include/torch/all.h"; then
    grep -q -- '-std=c++17' "$src/setup.py" || {
        echo "build_mmcv: mmcv's setup.py no longer passes -std=c++17: check the patch" >&2
        exit 1
    }
    sed -i 's/-std=c++17/-std=c++20/g' "$src/setup.py"
    echo "build_mmcv: torch's headers need C++20; -std=c++17 patched to -std=c++20"
fi

if [[ "${FORCE_CUDA:-0}" == 1 ]]; then
    # torch's CUDA headers include cusparse.h, cublas_v2.h and cusolverDn.h. torch's pip wheels
    # bring them in site-packages/nvidia/*/include, which a toolkit of nvcc and the runtime alone
    # lacks: searched after the toolkit's own include folder.
    nvidia_includes="$(ls -d "$(dirname "$torch_dir")"/nvidia/*/include 2>/dev/null | paste -sd:)"
    export CPATH="${CPATH:+$CPATH:}$nvidia_includes"
fi

mkdir -p "$out"
(cd "$src" && MMCV_WITH_OPS=1 FORCE_CUDA="${FORCE_CUDA:-0}" MAX_JOBS="${MAX_JOBS:-$(nproc)}" \
    "$python_bin" -m pip wheel -q --disable-pip-version-check --no-build-isolation --no-deps . \
    -w "$out")
ls "$out"/mmcv-*.whl
