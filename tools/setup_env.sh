#!/usr/bin/env bash
# Creates (or checks) an environment of the project at the repository root.
#
# Usage: tools/setup_env.sh [--stack pinned|oldest|newest] [--print-plan]
#
#   --stack pinned   (default) .venv/: the project's own stack, torch of requirements/torch.txt,
#                    the OpenMMLab packages and test tools at their pins; the package is on the
#                    path in place (make setup, make test, make demo)
#   --stack oldest   .venv-oldest/: the oldest supported stack, torch of
#                    requirements/torch-oldest.txt, mmcv built against it, and the package
#                    installed as a user would, `pip install -e .[tests,spconv]`, with the same
#                    OpenMMLab packages; CPU only (make test-compat)
#   --stack newest   .venv-newest/: as oldest, with the newest torch on PyPI,
#                    requirements/torch-newest.txt (make test-newest)
#   --print-plan     print the build plan (CPU or CUDA) and exit
#
# Idempotent: a stamp file records a hash of the requirement files, of this script and of the
# GPUs found, so a second run with nothing changed exits in well under a second. mmcv 2.1.0 has no
# wheel for torch 2.14, so it is built from its sdist once (tools/build_mmcv.sh) and kept in a
# wheelhouse outside the work tree, keyed by the mmcv, torch and Python versions, the machine and,
# for a CUDA build, the CUDA version and GPU architectures (pip's own cache keys wheels on the
# sdist only and would silently reuse a wheel built against another torch).
#
# The plan: without an NVIDIA GPU (nvidia-smi finds none), the CPU build. With one, mmcv's CUDA
# kernels for the GPUs' compute capabilities (TORCH_CUDA_ARCH_LIST, unless set by the caller),
# compiled by the nvcc whose major version matches torch's CUDA, and spconv's CUDA wheel.
# MMCONVNEXTV2_DEVICE=cpu forces the CPU build. For tests, MMCONVNEXTV2_FAKE_GPU_ARCH (e.g. "9.0",
# "8.6,9.0" or "none"), MMCONVNEXTV2_FAKE_NVCC_VERSION ("13.0" or "none") and
# MMCONVNEXTV2_FAKE_TORCH_CUDA ("13.0" or "none") replace what the machine reports.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python_bin="${PYTHON:-python3.11}"
command -v "$python_bin" >/dev/null 2>&1 || python_bin=python3

stack=pinned
print_plan_only=0
usage() { echo "usage: $0 [--stack pinned|oldest|newest] [--print-plan]" >&2; exit 2; }
while [[ $# -gt 0 ]]; do
    case "$1" in
        --stack) [[ $# -ge 2 ]] || usage; stack="$2"; shift 2 ;;
        --print-plan) print_plan_only=1; shift ;;
        *) usage ;;
    esac
done
case "$stack" in
    pinned) venv="$root/.venv"; torch_requirements="$root/requirements/torch.txt" ;;
    # The compat suite checks the oldest stack on the CPU; its GPU users build as in pinned.
    oldest|newest) venv="$root/.venv-$stack"
                   torch_requirements="$root/requirements/torch-$stack.txt"
                   export MMCONVNEXTV2_DEVICE=cpu ;;
    *) usage ;;
esac

mmcv_version=2.1.0
torch_version="$(sed -n 's/^torch==//p' "$torch_requirements")"
spconv_version="$(sed -n 's/^spconv==//p' "$root/requirements/spconv.txt")"
# spconv's CUDA wheels of $spconv_version, newest first: each bundles its own CUDA runtime.
spconv_cuda_builds=(12.6 12.4 12.1 11.8)

# The compute capabilities of the NVIDIA GPUs, one per line; nothing without a GPU.
gpu_compute_caps() {
    if [[ -n "${MMCONVNEXTV2_FAKE_GPU_ARCH+set}" ]]; then
        [[ "$MMCONVNEXTV2_FAKE_GPU_ARCH" == none ]] || tr ', ' '\n\n' <<<"$MMCONVNEXTV2_FAKE_GPU_ARCH"
    elif command -v nvidia-smi >/dev/null 2>&1; then
        nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null || true
    fi | sed '/^[[:space:]]*$/d'
}

# The CUDA toolkit whose nvcc would build mmcv: the first of CUDA_HOME, CUDA_PATH, the nvcc on
# PATH and /usr/local/cuda that holds bin/nvcc and include/cuda_runtime.h.
find_cuda_home() {
    local candidates=("${CUDA_HOME:-}" "${CUDA_PATH:-}") nvcc_on_path
    nvcc_on_path="$(command -v nvcc 2>/dev/null || true)"
    [[ -z "$nvcc_on_path" ]] || candidates+=("$(dirname "$(dirname "$(readlink -f "$nvcc_on_path")")")")
    candidates+=(/usr/local/cuda)
    local home
    for home in "${candidates[@]}"; do
        if [[ -n "$home" && -x "$home/bin/nvcc" && -f "$home/include/cuda_runtime.h" ]]; then
            echo "$home"
            return
        fi
    done
}

# "major.minor" of an nvcc, from its "release 13.0, V13.0.88" line.
nvcc_version() {
    "$1/bin/nvcc" --version | sed -n 's/.*release \([0-9]*\.[0-9]*\),.*/\1/p'
}

# torch's CUDA version ("13.0") in the venv (else in PYTHON, as on a machine without the venv);
# empty for a CPU-only build or where torch is not installed.
torch_cuda_version() {
    if [[ -n "${MMCONVNEXTV2_FAKE_TORCH_CUDA+set}" ]]; then
        [[ "$MMCONVNEXTV2_FAKE_TORCH_CUDA" == none ]] || echo "$MMCONVNEXTV2_FAKE_TORCH_CUDA"
        return
    fi
    local python="$venv/bin/python"
    [[ -x "$python" ]] || python="$python_bin"
    "$python" -c 'import torch; print(torch.version.cuda or "")' 2>/dev/null || true
}

# "12.6" -> 126, for comparing CUDA versions.
cuda_number() { local major="${1%%.*}" minor="${1#*.}"; echo $((major * 10 + minor)); }

# The spconv requirement: the newest CUDA wheel not newer than torch's CUDA, else the CPU wheel.
spconv_requirement() {
    local torch_cuda="$1" build
    if [[ -n "$torch_cuda" ]]; then
        for build in "${spconv_cuda_builds[@]}"; do
            if (($(cuda_number "$build") <= $(cuda_number "$torch_cuda"))); then
                echo "spconv-cu${build/./}==$spconv_version"
                return
            fi
        done
    fi
    echo "spconv==$spconv_version"
}

# Decides CPU or CUDA and sets plan_* (device, gpu_caps, torch_cuda, cuda_home, nvcc_version,
# arch_list, wheelhouse, spconv). On a GPU machine where no CUDA build is possible it sets
# plan_error to what to install instead, and the rest to the CPU build.
make_plan() {
    local caps
    caps="$(gpu_compute_caps | sort -u -V | paste -sd' ')"
    plan_gpu_caps="${caps:-none}"
    plan_torch_cuda="$(torch_cuda_version)"
    plan_device=cpu plan_cuda_home='' plan_nvcc_version='' plan_arch_list='' plan_error=''
    local key_suffix=''
    if [[ -n "$caps" && "${MMCONVNEXTV2_DEVICE:-auto}" != cpu ]]; then
        if [[ -n "${MMCONVNEXTV2_FAKE_NVCC_VERSION+set}" ]]; then
            [[ "$MMCONVNEXTV2_FAKE_NVCC_VERSION" == none ]] || {
                plan_cuda_home=/fake/cuda
                plan_nvcc_version="$MMCONVNEXTV2_FAKE_NVCC_VERSION"
            }
        else
            plan_cuda_home="$(find_cuda_home)"
            [[ -z "$plan_cuda_home" ]] || plan_nvcc_version="$(nvcc_version "$plan_cuda_home")"
        fi
        local fix="or set MMCONVNEXTV2_DEVICE=cpu for the CPU-only build (no CUDA kernels in mmcv)"
        if [[ -z "$plan_torch_cuda" ]]; then
            plan_error="GPU(s) with compute capability $caps found, but torch $torch_version is a \
CPU-only build: install a CUDA build of torch $torch_version ($root/requirements/torch.txt), $fix."
        elif [[ -z "$plan_nvcc_version" ]]; then
            plan_error="GPU(s) with compute capability $caps found, but no CUDA compiler: mmcv's \
CUDA ops need nvcc ${plan_torch_cuda%%.*}.x to match torch's CUDA $plan_torch_cuda (looked for \
bin/nvcc with include/cuda_runtime.h under CUDA_HOME, CUDA_PATH, the nvcc on PATH and \
/usr/local/cuda). Install the CUDA toolkit $plan_torch_cuda (NVIDIA's cuda-toolkit-${plan_torch_cuda/./-} \
package) and set CUDA_HOME to it, $fix."
        elif [[ "${plan_nvcc_version%%.*}" != "${plan_torch_cuda%%.*}" ]]; then
            plan_error="nvcc $plan_nvcc_version in $plan_cuda_home does not match torch's CUDA \
$plan_torch_cuda (torch refuses to build extensions across CUDA major versions): install the \
CUDA toolkit $plan_torch_cuda and set CUDA_HOME to it, $fix."
        else
            plan_device=cuda
            plan_arch_list="${TORCH_CUDA_ARCH_LIST:-${caps// /;}}"
            local arch_tag
            arch_tag="$(tr ' ;' '\n\n' <<<"$plan_arch_list" | sed '/^$/d; s/\.//; s/+PTX/ptx/; s/^/sm/' |
                paste -sd-)"
            key_suffix="_cu${plan_torch_cuda/./}_${arch_tag}"
        fi
    fi
    if [[ "$plan_device" == cpu ]]; then
        plan_spconv="spconv==$spconv_version"
    else
        plan_spconv="$(spconv_requirement "$plan_torch_cuda")"
    fi
    local py_tag
    py_tag="$("$python_bin" -c 'import sys; print(f"cp{sys.version_info.major}{sys.version_info.minor}")')"
    plan_wheelhouse="${MMCV_WHEELHOUSE:-${XDG_CACHE_HOME:-$HOME/.cache}/mmconvnextv2/wheelhouse/mmcv-${mmcv_version}_torch-${torch_version}_${py_tag}_$(uname -m)${key_suffix}}"
}

print_plan() {
    make_plan
    printf '%s=%s\n' device "$plan_device" gpu_compute_caps "$plan_gpu_caps" \
        torch_cuda "${plan_torch_cuda:-none}" cuda_home "${plan_cuda_home:-none}" \
        nvcc_version "${plan_nvcc_version:-none}" torch_cuda_arch_list "${plan_arch_list:-none}" \
        mmcv_wheelhouse "$plan_wheelhouse" spconv "$plan_spconv"
    if [[ -n "$plan_error" ]]; then
        echo "error=$plan_error"
        return 1
    fi
}

if [[ "$print_plan_only" == 1 ]]; then
    print_plan
    exit
fi

stamp="$venv/.mmconvnextv2-setup"
want="$( (cat "$root"/requirements/*.txt "$root"/tools/setup_env.sh "$root"/tools/build_mmcv.sh \
    "$root/setup.cfg" "$root/setup.py"; gpu_compute_caps; echo "${MMCONVNEXTV2_DEVICE:-auto}") |
    sha256sum | cut -d' ' -f1)"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    exit 0
fi

log() { printf '[setup %s] %s\n' "$(date +%H:%M:%S)" "$*"; }
start=$SECONDS

if [[ ! -x "$venv/bin/python" ]]; then
    log "creating $venv with $("$python_bin" --version)"
    "$python_bin" -m venv "$venv"
fi
pip_cmd=("$venv/bin/python" -m pip --disable-pip-version-check --no-input)
# This machine kind's pip config lists local indexes whose missing folders warn on every package.
quiet_pip_config() { grep -v 'is ignored: it is neither a file nor a directory' >&2; }
pip() { "${pip_cmd[@]}" "$@" 2> >(quiet_pip_config); }

log "build tools and torch $torch_version ($stack stack)"
pip install -q --upgrade 'pip>=24,<26'
pip install -q -r "$root/requirements/build.txt"
pip install -q -r "$torch_requirements"

make_plan
if [[ -n "$plan_error" ]]; then
    echo "setup: $plan_error" >&2
    exit 1
fi
wheelhouse="$plan_wheelhouse"
if [[ "$plan_device" == cuda ]]; then
    export FORCE_CUDA=1 TORCH_CUDA_ARCH_LIST="$plan_arch_list" CUDA_HOME="$plan_cuda_home"
    build_note="CUDA $plan_torch_cuda kernels for compute capability $plan_arch_list (nvcc in \
$plan_cuda_home); its time is not measured yet"
else
    export FORCE_CUDA=0
    build_note="CPU kernels only, about 2-4 minutes on 2 cores"
fi
log "plan: $plan_device build (GPUs: $plan_gpu_caps), $plan_spconv"

if ! ls "$wheelhouse"/mmcv-${mmcv_version}-*.whl >/dev/null 2>&1; then
    log "building mmcv $mmcv_version with ops against torch $torch_version: $build_note"
    work="$(mktemp -d)"
    trap 'rm -rf "$work"' EXIT
    pip download -q --no-deps --no-build-isolation --no-binary :all: "mmcv==$mmcv_version" -d "$work"
    bash "$root/tools/build_mmcv.sh" "$venv/bin/python" "$work/mmcv-$mmcv_version.tar.gz" \
        "$work/dist" 2> >(quiet_pip_config)
    mkdir -p "$wheelhouse"
    # Move in under a temporary name, then rename: a killed build never leaves a partial wheel.
    built="$(ls "$work"/dist/mmcv-*.whl)"
    cp "$built" "$wheelhouse/.partial.whl"
    mv "$wheelhouse/.partial.whl" "$wheelhouse/$(basename "$built")"
    log "mmcv wheel cached in $wheelhouse"
fi
# Reinstalled every time: a CPU and a CUDA wheel carry the same version.
pip install -q --no-deps --force-reinstall "$wheelhouse"/mmcv-${mmcv_version}-*.whl
# mmcv's own runtime requirements (it was installed with --no-deps to keep pip off its sdist).
pip install -q addict 'packaging' Pillow pyyaml yapf opencv-python -c "$torch_requirements"

if [[ "$stack" != pinned ]]; then
    log "mmconvnextv2 as a user installs it: pip install -e .[tests,spconv]"
    # The same OpenMMLab packages as the pinned stack; the torch requirements hold torch and, for
    # the oldest stack, numpy < 2.
    pip install -q -e "$root[tests,spconv]" "mmcv==$mmcv_version" -f "$wheelhouse" \
        -c "$root/requirements/mminstall.txt" -c "$torch_requirements"
    pip install -q --no-deps --target "$venv/hf-reference" -r "$root/requirements/hf.txt"
    "$venv/bin/python" -c 'import mmcv.ops, mmdet, mmseg, mmpretrain, spconv.pytorch, mmconvnextv2
import torch; print(f"environment ok: torch {torch.__version__}, mmcv {mmcv.__version__}")'
    echo "$want" > "$stamp"
    log "done in $((SECONDS - start)) s"
    exit 0
fi

log "OpenMMLab stack and test tools"
# spconv and spconv-cuXYZ (and their cumm, cumm-cuXYZ) install the same modules: keep one kind.
spconv_name="${plan_spconv%%==*}"
other_spconv="$("${pip_cmd[@]}" list --format=freeze 2>/dev/null |
    tr '_' '-' | grep -iE '^(spconv|cumm)(-cu[0-9]+)?==' | cut -d= -f1 |
    grep -vixE "$spconv_name|cumm${spconv_name#spconv}" || true)"
if [[ -n "$other_spconv" ]]; then
    pip uninstall -q -y $other_spconv
fi
pip install -q -r "$root/requirements/mminstall.txt" -r "$root/requirements/tests.txt" \
    "$plan_spconv" "mmcv==$mmcv_version" -f "$wheelhouse"
pip install -q --no-deps --target "$venv/hf-reference" -r "$root/requirements/hf.txt"

# Editable install in the classic form: the repository root on sys.path and the egg-info beside the
# package. mmengine's get_installed_path() then finds the package in place, so `mmconvnextv2::`
# config bases resolve to the live configs/ (with a PEP 660 editable install it points into
# site-packages, where nothing is).
pip uninstall -q -y mmconvnextv2 >/dev/null 2>&1 || true
(cd "$root" && "$venv/bin/python" setup.py -q egg_info >/dev/null)
site_packages="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
echo "$root" > "$site_packages/mmconvnextv2.pth"

"$venv/bin/python" - "$plan_device" <<'EOF'
import sys

import mmcv.ops, mmdet, mmseg, mmpretrain, spconv.pytorch, mmconvnextv2  # noqa: E401,F401
import torch

cuda = mmcv.ops.get_compiling_cuda_version()
if sys.argv[1] == 'cuda' and cuda == 'not available':
    sys.exit('setup: mmcv was built without CUDA kernels although the plan was a CUDA build')
print(f'environment ok: torch {torch.__version__}, mmcv {mmcv.__version__} (CUDA kernels: {cuda})'
      f', GPUs visible to torch: {torch.cuda.device_count()}')
EOF
echo "$want" > "$stamp"
log "done in $((SECONDS - start)) s"
