#!/usr/bin/env bash
# Creates (or checks) the project's environment in .venv/ at the repository root.
#
# Idempotent: a stamp file records a hash of the requirement files and of this script, so a
# second run with nothing changed exits in well under a second.  mmcv 2.1.0 has no wheel for
# torch 2.14, so it is built from its sdist once and kept in a wheelhouse outside the work tree,
# keyed by the mmcv, torch and Python versions and the machine (pip's own cache keys wheels on the
# sdist only and would silently reuse a wheel built against another torch).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"
python_bin="${PYTHON:-python3.11}"
command -v "$python_bin" >/dev/null 2>&1 || python_bin=python3

mmcv_version=2.1.0
torch_version="$(sed -n 's/^torch==//p' "$root/requirements/torch.txt")"
py_tag="$("$python_bin" -c 'import sys; print(f"cp{sys.version_info.major}{sys.version_info.minor}")')"
wheelhouse="${MMCV_WHEELHOUSE:-${XDG_CACHE_HOME:-$HOME/.cache}/mmconvnextv2/wheelhouse/mmcv-${mmcv_version}_torch-${torch_version}_${py_tag}_$(uname -m)}"

stamp="$venv/.mmconvnextv2-setup"
want="$(cat "$root"/requirements/*.txt "$root/tools/setup_env.sh" "$root/setup.cfg" "$root/setup.py" | sha256sum | cut -d' ' -f1)"
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
pip() { "${pip_cmd[@]}" "$@" 2> >(grep -v 'is ignored: it is neither a file nor a directory' >&2); }

log "build tools and torch $torch_version"
pip install -q --upgrade 'pip>=24,<26'
pip install -q -r "$root/requirements/build.txt"
pip install -q -r "$root/requirements/torch.txt"

if ! ls "$wheelhouse"/mmcv-${mmcv_version}-*.whl >/dev/null 2>&1; then
    log "building mmcv $mmcv_version with ops against torch $torch_version (about 11 minutes on 2 cores)"
    work="$(mktemp -d)"
    trap 'rm -rf "$work"' EXIT
    pip download -q --no-deps --no-build-isolation --no-binary :all: "mmcv==$mmcv_version" -d "$work"
    tar -xzf "$work"/mmcv-${mmcv_version}.tar.gz -C "$work"
    src="$work/mmcv-$mmcv_version"
    # torch 2.14's headers need C++20; mmcv's setup.py hard-codes C++17 for the CPU extension.
    grep -q -- '-std=c++17' "$src/setup.py" || { echo "mmcv setup.py no longer passes -std=c++17: check the patch" >&2; exit 1; }
    sed -i 's/-std=c++17/-std=c++20/g' "$src/setup.py"
    (cd "$src" && MMCV_WITH_OPS=1 FORCE_CUDA=0 MAX_JOBS="${MAX_JOBS:-$(nproc)}" \
        pip wheel -q --no-build-isolation --no-deps . -w "$work/dist")
    mkdir -p "$wheelhouse"
    # Move in under a temporary name, then rename: a killed build never leaves a partial wheel.
    built="$(ls "$work"/dist/mmcv-*.whl)"
    cp "$built" "$wheelhouse/.partial.whl"
    mv "$wheelhouse/.partial.whl" "$wheelhouse/$(basename "$built")"
    log "mmcv wheel cached in $wheelhouse"
fi
pip install -q --no-deps "$wheelhouse"/mmcv-${mmcv_version}-*.whl
# mmcv's own runtime requirements (it was installed with --no-deps to keep pip off its sdist).
pip install -q addict 'packaging' Pillow pyyaml yapf opencv-python

log "OpenMMLab stack and test tools"
pip install -q -r "$root/requirements/mminstall.txt" -r "$root/requirements/tests.txt" \
    "mmcv==$mmcv_version" -f "$wheelhouse"
pip install -q --no-deps --target "$venv/hf-reference" -r "$root/requirements/hf.txt"

# Editable install in the classic form: the repository root on sys.path and the egg-info beside the
# package. mmengine's get_installed_path() then finds the package in place, so `mmconvnextv2::`
# config bases resolve to the live configs/ (with a PEP 660 editable install it points into
# site-packages, where nothing is).
pip uninstall -q -y mmconvnextv2 >/dev/null 2>&1 || true
(cd "$root" && "$venv/bin/python" setup.py -q egg_info >/dev/null)
site_packages="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
echo "$root" > "$site_packages/mmconvnextv2.pth"

"$venv/bin/python" -c "import mmcv.ops, mmdet, mmseg, mmpretrain, spconv.pytorch, mmconvnextv2; print('environment ok: torch', __import__('torch').__version__, 'mmcv', mmcv.__version__)"
echo "$want" > "$stamp"
log "done in $((SECONDS - start)) s"
