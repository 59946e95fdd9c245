#!/usr/bin/env bash
# Checks in seconds what a CUDA build of mmcv (FORCE_CUDA=1 tools/build_mmcv.sh) needs, before the
# build spends minutes finding out. Prints a line per piece and, for each missing one, the fix;
# exits 1 if anything is missing.
#
# Usage: tools/cuda_build_preflight.sh PYTHON [CUDA_HOME]
#
# PYTHON is the interpreter with torch that builds mmcv; CUDA_HOME the CUDA toolkit whose nvcc
# compiles the kernels, by default the one torch picks: $CUDA_HOME, else $CUDA_PATH, else the
# folder above the nvcc on PATH, else /usr/local/cuda. CC and CXX are read as the build reads
# them: torch compiles the C++ files with $CXX (default c++) and hands $CC to nvcc as its host
# compiler (-ccbin); without CC, nvcc runs gcc from PATH. The pieces:
#   - nvcc runs, and its CUDA major version is torch's (torch refuses to build across majors);
#   - include/cuda_runtime.h of the toolkit;
#   - libcudart where the linker looks for torch's -lcudart: CUDA_HOME/lib64 (lib where there is
#     no lib64, as torch does) or LIBRARY_PATH;
#   - nvcc's host compiler is a GCC that this nvcc accepts, and the C++ compiler runs;
#   - Python.h of PYTHON;
#   - ninja beside PYTHON (a venv's bin) or on PATH, where tools/build_mmcv.sh looks for it;
#     without it torch compiles one file at a time.
# Everything it runs comes from PYTHON, CUDA_HOME, CC, CXX and PATH, so a test fakes a machine with
# stand-in executables.
set -euo pipefail

if [[ $# -lt 1 || $# -gt 2 ]]; then
    echo "usage: $0 PYTHON [CUDA_HOME]" >&2
    exit 2
fi
python_bin="$1"
cuda_home="${2:-${CUDA_HOME:-${CUDA_PATH:-}}}"
if [[ -z "$cuda_home" ]]; then
    nvcc_on_path="$(command -v nvcc || true)"
    if [[ -n "$nvcc_on_path" ]]; then
        cuda_home="$(dirname "$(dirname "$nvcc_on_path")")"
    elif [[ -e /usr/local/cuda ]]; then
        cuda_home=/usr/local/cuda
    fi
fi
missing=0

ok() { printf 'ok       %s\n' "$1"; }
warn() { printf 'warn     %s\n' "$1"; }
# A missing piece and its fix.
lacks() {
    printf 'MISSING  %s\n         fix: %s\n' "$1" "$2"
    missing=$((missing + 1))
}

# The newest GCC major version each nvcc release accepts (its crt/host_config.h stops newer ones
# with "unsupported GNU version"), from the host compiler support policy of NVIDIA's CUDA
# installation guide for Linux of each release; 13.0's matches its host_config.h. There is no
# CUDA 12.7. A toolkit's own host_config.h, where present, wins: it is the check nvcc makes.
max_gcc_for_nvcc() {
    case "$1" in
        12.[0-3]) echo 12 ;;
        12.[4-6]) echo 13 ;;
        12.[89]) echo 14 ;;
        13.0) echo 15 ;;
    esac
}

# "major.minor" from nvcc's "Cuda compilation tools, release 13.0, V13.0.88" line.
nvcc_release() { sed -n 's/.*release \([0-9][0-9]*\.[0-9][0-9]*\),.*/\1/p' <<<"$1"; }

# --- PYTHON: torch, its pip CUDA libraries, Python.h, ninja -----------------------------------
python_facts="$("$python_bin" - 2>/dev/null <<'EOF'
import os
import sys
import sysconfig

print(f'python={sys.version_info.major}.{sys.version_info.minor}')
print('include=' + sysconfig.get_paths()['include'])
try:
    import torch
    print('torch=' + torch.__version__)
    print('torch_cuda=' + (torch.version.cuda or ''))
    print('site=' + os.path.dirname(os.path.dirname(torch.__file__)))
except ImportError:
    print('torch=')
EOF
)" || python_facts=''
fact() { sed -n "s/^$1=//p" <<<"$python_facts"; }
torch_cuda=''
site=''
if [[ -z "$python_facts" ]]; then
    lacks "python: $python_bin does not run or fails (run it to see why)" \
        "pass the interpreter that builds mmcv (e.g. .venv/bin/python) as the first argument"
else
    include="$(fact include)"
    if [[ -f "$include/Python.h" ]]; then
        ok "Python.h ($include)"
    else
        lacks "Python.h: not in $include" "install the Python $(fact python) development \
headers (Debian/Ubuntu: apt install python$(fact python)-dev)"
    fi
    if [[ -z "$(fact torch)" ]]; then
        lacks "torch: not installed in $python_bin" \
            "$python_bin -m pip install -r requirements/torch.txt (a CUDA build of torch)"
    else
        torch_cuda="$(fact torch_cuda)"
        site="$(fact site)"
        if [[ -z "$torch_cuda" ]]; then
            lacks "torch $(fact torch) is a CPU-only build: it has no CUDA libraries to link" \
                "install a CUDA build of torch $(fact torch)"
        else
            ok "torch $(fact torch), CUDA $torch_cuda"
        fi
    fi
fi

ninja="$(dirname "$python_bin")/ninja"
[[ -x "$ninja" ]] || ninja="$(command -v ninja || true)"
if [[ -n "$ninja" ]]; then
    ok "ninja ($ninja)"
else
    lacks "ninja: neither beside $python_bin nor on PATH" "$python_bin -m pip install ninja"
fi

# --- the CUDA toolkit: nvcc, headers, libcudart -----------------------------------------------
# The toolkit to install: torch's CUDA version, as NVIDIA's package names it.
if [[ -n "$torch_cuda" ]]; then
    install_toolkit="install the CUDA toolkit $torch_cuda (NVIDIA's cuda-toolkit-${torch_cuda/./-} \
package) and set CUDA_HOME to it"
else
    install_toolkit="install the CUDA toolkit of torch's CUDA version and set CUDA_HOME to it"
fi
nvcc_version=''
if [[ -z "$cuda_home" ]]; then
    lacks "CUDA toolkit: none found (no CUDA_HOME, CUDA_PATH, nvcc on PATH or /usr/local/cuda)" \
        "$install_toolkit"
elif ! nvcc_output="$("$cuda_home/bin/nvcc" --version 2>&1)"; then
    lacks "nvcc: $cuda_home/bin/nvcc does not run" "$install_toolkit"
else
    nvcc_version="$(nvcc_release "$nvcc_output")"
    if [[ -z "$nvcc_version" ]]; then
        warn "nvcc runs ($cuda_home/bin/nvcc) but prints no 'release X.Y': version not checked"
    elif [[ -n "$torch_cuda" && "${nvcc_version%%.*}" != "${torch_cuda%%.*}" ]]; then
        lacks "nvcc $nvcc_version in $cuda_home: torch is built with CUDA $torch_cuda" \
            "$install_toolkit"
    else
        ok "nvcc $nvcc_version ($cuda_home/bin/nvcc)"
    fi
fi

if [[ -n "$cuda_home" ]]; then
    if [[ -f "$cuda_home/include/cuda_runtime.h" ]]; then
        ok "cuda_runtime.h ($cuda_home/include)"
    else
        lacks "cuda_runtime.h: not in $cuda_home/include" "set CUDA_HOME to the toolkit's \
folder (the one with bin/nvcc and include/cuda_runtime.h), or install the CUDA runtime's \
development files (NVIDIA's cuda-cudart-dev package of the toolkit's version)"
    fi

    lib_dir="$cuda_home/lib64"
    [[ -d "$lib_dir" || ! -d "$cuda_home/lib" ]] || lib_dir="$cuda_home/lib"
    library_path=()
    [[ -z "${LIBRARY_PATH:-}" ]] || IFS=: read -ra library_path <<<"$LIBRARY_PATH"
    search=("$lib_dir" "${library_path[@]}")
    linkable=''
    for dir in "${search[@]}"; do
        for name in libcudart.so libcudart.a; do
            if [[ -n "$dir" && -e "$dir/$name" ]]; then
                linkable="$dir/$name"
                break 2
            fi
        done
    done
    if [[ -n "$linkable" ]]; then
        ok "libcudart ($linkable)"
    else
        # A runtime the linker does not see: unversioned elsewhere in the toolkit, versioned
        # only (libcudart.so.13), or torch's pip copy.
        candidates=("$cuda_home"/targets/*/lib/libcudart.so* "$lib_dir"/libcudart.so.*)
        [[ -z "$site" ]] || candidates+=("$site"/nvidia/cuda_runtime/lib/libcudart.so*
                                        "$site"/nvidia/cu[0-9]*/lib/libcudart.so*)
        found=''
        for candidate in "${candidates[@]}"; do
            if [[ -e "$candidate" ]]; then
                found="$candidate"
                break
            fi
        done
        what="libcudart: no libcudart.so or libcudart.a in $lib_dir${LIBRARY_PATH:+ or \
LIBRARY_PATH}, where the linker looks for torch's -lcudart"
        if [[ "$found" == */libcudart.so ]]; then
            lacks "$what" "export LIBRARY_PATH=\"${found%/*}\${LIBRARY_PATH:+:\$LIBRARY_PATH}\""
        elif [[ -n "$found" ]]; then
            lacks "$what" "link $found as libcudart.so in a folder on LIBRARY_PATH: mkdir -p \
~/cudart && ln -sf \"$found\" ~/cudart/libcudart.so && \
export LIBRARY_PATH=~/cudart\${LIBRARY_PATH:+:\$LIBRARY_PATH}"
        else
            lacks "$what" "install the CUDA runtime's development files (NVIDIA's \
cuda-cudart-dev package of the toolkit's version)"
        fi
    fi
fi

# --- the compilers ---------------------------------------------------------------------------
cxx="${CXX:-c++}"
if "$cxx" --version >/dev/null 2>&1; then
    ok "C++ compiler ($cxx)"
else
    lacks "C++ compiler: $cxx does not run" "install g++ (or set CXX to a C++ compiler)"
fi
host="${CC:-gcc}"
if ! host_banner="$("$host" --version 2>/dev/null)"; then
    lacks "nvcc's host compiler: $host does not run" \
        "install gcc and g++ (or set CC to the gcc that nvcc should use)"
elif [[ "$host_banner" == *clang* ]]; then
    warn "nvcc's host compiler $host is clang: its version is not checked against nvcc's"
else
    host_major="$("$host" -dumpfullversion -dumpversion 2>/dev/null | sed -n '1s/\..*//p')"
    header="${cuda_home:+$cuda_home/include/crt/host_config.h}"
    max_gcc=''
    if [[ -n "$header" && -f "$header" ]]; then
        max_gcc="$(sed -n 's/.*gcc versions later than \([0-9][0-9]*\) are not supported.*/\1/p' \
            "$header" | sed -n 1p)"
    fi
    [[ -n "$max_gcc" || -z "$nvcc_version" ]] || max_gcc="$(max_gcc_for_nvcc "$nvcc_version")"
    if [[ -z "$host_major" ]]; then
        warn "nvcc's host compiler $host prints no version: not checked against nvcc's"
    elif [[ -z "$max_gcc" && -z "$nvcc_version" ]]; then
        warn "gcc $host_major ($host): not compared with nvcc, whose version is unknown"
    elif [[ -z "$max_gcc" ]]; then
        warn "gcc $host_major ($host): which GCC versions nvcc $nvcc_version accepts is not \
known here; the build will tell"
    elif ((host_major > max_gcc)); then
        lacks "nvcc's host compiler: gcc $host_major ($host), but nvcc ${nvcc_version:-?} \
accepts gcc up to $max_gcc" "install gcc-$max_gcc and g++-$max_gcc and build with \
CC=gcc-$max_gcc CXX=g++-$max_gcc"
    else
        ok "nvcc's host compiler: gcc $host_major ($host; nvcc ${nvcc_version:-?} accepts up to \
$max_gcc)"
    fi
fi

if ((missing)); then
    echo "cuda_build_preflight: $missing missing; fix them before building mmcv with FORCE_CUDA=1"
    exit 1
fi
echo "cuda_build_preflight: ready for a CUDA build of mmcv"
