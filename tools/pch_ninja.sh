#!/usr/bin/env bash
# `ninja` for tools/build_mmcv.sh: precompiles one header with the build's own flags, then runs
# the real ninja with the same arguments.
#
# torch's BuildExtension writes build.ninja (its `cxx`, `cflags` and `post_cflags` variables are
# the flags of every C++ object) and runs `ninja` from PATH in that folder; build_mmcv.sh puts this
# script there under that name. PCH_HEADER is the header to precompile (next to it, as
# HEADER.gch, where GCC looks for it), REAL_NINJA the ninja to run. GCC uses the precompiled
# header only for files whose flags match it, and reads the header as usual otherwise: a failure
# here costs time, never correctness, so it warns and goes on.
set -euo pipefail

if [[ "${1:-}" != --version && -f build.ninja && ! -f "$PCH_HEADER.gch" ]]; then
    variable() { sed -n "s/^$1 = //p" build.ninja; }
    cflags="$(variable cflags)"
    # As ninja runs its commands: through sh, which removes the escapes of quoted macro values.
    if ! sh -c "$(variable cxx) ${cflags% -c} -x c++-header '$PCH_HEADER' -o '$PCH_HEADER.gch' \
            $(variable post_cflags)"; then
        echo "pch_ninja: precompiling $PCH_HEADER failed; the build goes on without it" >&2
        rm -f "$PCH_HEADER.gch"
    fi
fi
exec "$REAL_NINJA" "$@"
