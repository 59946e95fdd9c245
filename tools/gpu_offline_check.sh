#!/usr/bin/env bash
# Runs tools/gpu_check.py on a CUDA machine without network, whose Python already has torch,
# torchvision, timm and the rest of a CUDA image (docs/gpu.md). Installs the wheels that
# tools/gpu_wheels.sh put in .gpu/wheels into .gpu/site, builds mmcv with CUDA kernels from the
# sdist there unless .gpu/mmcv-dist already holds that wheel, then runs the check. Nothing is
# downloaded; everything goes under .gpu/.
#
# Usage: tools/gpu_offline_check.sh build [PARTS_DIR]   install, build mmcv; with PARTS_DIR, also
#                                                        write the wheel there in 15 MB parts
#        tools/gpu_offline_check.sh check [OPTIONS]     install (build if needed), then
#                                                        tools/gpu_check.py OPTIONS
# PYTHON (default python3) is the interpreter with torch; MAX_JOBS the compile jobs (all cores).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
gpu="$root/.gpu"
site="$gpu/site"
dist="$gpu/mmcv-dist"
python_bin="${PYTHON:-python3}"
export PYTHONPATH="$site:$root${PYTHONPATH:+:$PYTHONPATH}"
log() { printf '[gpu %s] %s\n' "$(date +%H:%M:%S)" "$*"; }
pip_install() {
    "$python_bin" -m pip install -q --disable-pip-version-check --no-index --no-deps --no-compile \
        --target "$site" "$@"
}

# The downloaded wheels into .gpu/site, replacing what an earlier run put there.
install_wheels() {
    ls "$gpu"/wheels/*.whl >/dev/null 2>&1 || {
        echo "no wheels in $gpu/wheels: run tools/gpu_wheels.sh where there is network" >&2
        exit 1
    }
    log "$("$python_bin" -c 'import sys, torch; print("Python", sys.version.split()[0], "torch", torch.__version__, "CUDA", torch.version.cuda)')"
    rm -rf "$site"
    pip_install "$gpu"/wheels/*.whl
    # mmpretrain 1.2.0 imports its multimodal models whenever the transformers distribution is
    # 4.28 or newer, and they fail with transformers >= 4.50. The project's venv keeps transformers
    # off the path; here a placeholder distribution first on the path reports version 0.
    mkdir -p "$site/transformers-0.dist-info"
    printf 'Metadata-Version: 2.1\nName: transformers\nVersion: 0\n' \
        > "$site/transformers-0.dist-info/METADATA"
}

# mmcv with CUDA kernels for this machine's GPUs (tools/setup_env.sh's plan), into .gpu/mmcv-dist.
build_mmcv() {
    local plan sdist start=$SECONDS
    plan="$(PYTHON="$python_bin" bash "$root/tools/setup_env.sh" --print-plan)" || {
        echo "$plan" >&2
        exit 1
    }
    plan_value() { sed -n "s/^$1=//p" <<<"$plan"; }
    [[ "$(plan_value device)" == cuda ]] || { echo "no GPU found: $plan" >&2; exit 1; }
    sdist="$(ls "$gpu"/wheels/mmcv-*.tar.gz)"
    log "building mmcv with CUDA kernels for $(plan_value torch_cuda_arch_list), nvcc" \
        "$(plan_value nvcc_version) in $(plan_value cuda_home)"
    rm -rf "$dist"
    # Linked without debug info: the CPU build's library is 82 MB with it and 2 MB without, and
    # the wheel has to travel back from the machine (tools/gpu_offline_check.sh build PARTS_DIR).
    FORCE_CUDA=1 TORCH_CUDA_ARCH_LIST="$(plan_value torch_cuda_arch_list)" \
        CUDA_HOME="$(plan_value cuda_home)" LDFLAGS="${LDFLAGS:+$LDFLAGS }-Wl,--strip-debug" \
        bash "$root/tools/build_mmcv.sh" "$python_bin" "$sdist" "$dist"
    log "mmcv built in $((SECONDS - start)) s"
}

# Everything the check imports: the wheels, mmcv (built once) and the egg-info by which mmengine
# finds the `mmconvnextv2::` configs.
install() {
    install_wheels
    ls "$dist"/mmcv-*.whl >/dev/null 2>&1 || build_mmcv
    pip_install "$dist"/mmcv-*.whl
    (cd "$root" && "$python_bin" setup.py -q egg_info >/dev/null)
    "$python_bin" -c "import mmcv.ops, mmdet, mmseg, mmpretrain, mmconvnextv2; print('mmcv', mmcv.__version__, 'CUDA ops', mmcv.ops.get_compiling_cuda_version())"
}

command="${1:-}"
shift || true
case "$command" in
    build)
        install
        if [[ $# -gt 0 ]]; then
            wheel="$(ls "$dist"/mmcv-*.whl)"
            basename "$wheel" > "$1/mmcv-wheel-name.txt"
            split -b 15M "$wheel" "$1/mmcv-wheel.part-"
            ls -l "$1"
        fi
        ;;
    check)
        install
        "$python_bin" "$root/tools/gpu_check.py" --work-dir "$gpu/work" "$@"
        ;;
    *)
        echo "usage: $0 build [PARTS_DIR] | check [gpu_check.py options]" >&2
        exit 2
        ;;
esac
