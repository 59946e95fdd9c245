#!/usr/bin/env bash
# Builds an mmcv wheel with its ops from the mmcv sdist, against the torch of the given Python.
#
# Usage: tools/build_mmcv.sh PYTHON SDIST OUT_DIR
#
# CPU kernels only, unless FORCE_CUDA=1: then the CUDA kernels too, for the architectures in
# TORCH_CUDA_ARCH_LIST (e.g. "9.0" or "8.6;9.0"), compiled by the nvcc of CUDA_HOME. MAX_JOBS
# parallel compile jobs (default: all cores). PYTHON must have torch, setuptools < 81 (mmcv's
# setup.py imports pkg_resources) and wheel; nothing is downloaded. Used by tools/setup_env.sh and
# on a CUDA machine without network (docs/gpu.md).
#
# Two things make it faster than mmcv's own build, with the same ops and code: no debug
# information (-g0 after Python's -g, which made the library 40 times larger and each compile
# ~1.6 times longer), and a precompiled header. 63 of mmcv's 83 C++ files begin with
# pytorch_cpp_helper.hpp, i.e. with torch's ATen headers, whose parsing is most of their compile
# time; tools/pch_ninja.sh precompiles it with the build's own flags before ninja runs.
# MMCV_BUILD_DEBUG_INFO=1 keeps the debug information, MMCV_BUILD_PCH=0 leaves the header out
# (tools/analysis/benchmark_mmcv_build.sh compares the three builds).
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
    # What the CUDA build needs (ninja, nvcc, libcudart, a compiler nvcc supports), checked in
    # seconds rather than found missing minutes into the build.
    bash "$(dirname "${BASH_SOURCE[0]}")/cuda_build_preflight.sh" "$python_bin"
fi

# torch runs the `ninja` it finds first on PATH: tools/pch_ninja.sh under that name, which then
# runs the real one (the Python environment's, else the system's).
real_ninja="$(dirname "$python_bin")/ninja"
[[ -x "$real_ninja" ]] || real_ninja="$(command -v ninja || true)"
[[ -n "$real_ninja" ]] || { echo "build_mmcv: no ninja found: pip install ninja" >&2; exit 1; }
mkdir "$work/bin"
if [[ "${MMCV_BUILD_PCH:-1}" == 1 ]]; then
    ln -s "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/pch_ninja.sh" "$work/bin/ninja"
else
    ln -s "$real_ninja" "$work/bin/ninja"
fi

# Python's compile flags (-O3 -DNDEBUG ...), with -g0 after its -g unless the debug information is
# wanted. CFLAGS replaces them in setuptools' distutils, so they are all given.
cflags="$("$python_bin" -c 'import sysconfig; print(sysconfig.get_config_var("CFLAGS"))')"
[[ "${MMCV_BUILD_DEBUG_INFO:-0}" == 1 ]] || cflags="$cflags -g0"

mkdir -p "$out"
(cd "$src" && PATH="$work/bin:$PATH" REAL_NINJA="$real_ninja" \
    PCH_HEADER="$src/mmcv/ops/csrc/common/pytorch_cpp_helper.hpp" CFLAGS="$cflags" \
    MMCV_WITH_OPS=1 FORCE_CUDA="${FORCE_CUDA:-0}" MAX_JOBS="${MAX_JOBS:-$(nproc)}" \
    "$python_bin" -m pip wheel -q --disable-pip-version-check --no-build-isolation --no-deps . \
    -w "$out")
ls "$out"/mmcv-*.whl
