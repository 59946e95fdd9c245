#!/usr/bin/env bash
# Times the CPU build of mmcv 2.1.0 three ways and checks that they give the same ops: mmcv's own
# flags (-g -O3), without debug information (-g0), and -g0 with the precompiled header (what
# tools/build_mmcv.sh does). For each: wall and CPU seconds, the size of mmcv's _ext library and
# its exported symbols; then RoIAlign, NMS and rotated-box IoU of each build on the same inputs,
# which must be bitwise equal, and RoIAlign's time on one thread. Run it on an idle machine: about
# 15 minutes on 2 cores (docs/compatibility.md has its numbers).
#
# Usage: tools/analysis/benchmark_mmcv_build.sh [WORK_DIR]   (default /tmp/mmcv_build_benchmark)
# The project's .venv (make setup) builds and runs; the sdist is downloaded once into WORK_DIR.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
python_bin="$root/.venv/bin/python"
work="${1:-/tmp/mmcv_build_benchmark}"
[[ -x "$python_bin" ]] || { echo "no $python_bin: run make setup first" >&2; exit 1; }
mkdir -p "$work"
sdist="$work/mmcv-2.1.0.tar.gz"
[[ -f "$sdist" ]] || "$python_bin" -m pip download -q --disable-pip-version-check --no-deps \
    --no-build-isolation --no-binary :all: mmcv==2.1.0 -d "$work"

declare -A settings=([mmcv-flags]="MMCV_BUILD_DEBUG_INFO=1 MMCV_BUILD_PCH=0"
                     [g0]="MMCV_BUILD_PCH=0" [g0-pch]="")
for build in mmcv-flags g0 g0-pch; do
    rm -rf "$work/$build"
    start=$SECONDS
    env ${settings[$build]} /usr/bin/time -o "$work/$build.time" -f '%U %S' \
        bash "$root/tools/build_mmcv.sh" "$python_bin" "$sdist" "$work/$build/dist" \
        >"$work/$build.log" 2>&1
    wall=$((SECONDS - start))
    mkdir -p "$work/$build/site"
    (cd "$work/$build/site" && unzip -q "$work/$build"/dist/mmcv-*.whl)
    library="$(ls "$work/$build"/site/mmcv/_ext*.so)"
    awk -v build="$build" -v wall="$wall" -v bytes="$(stat -c %s "$library")" \
        -v symbols="$(nm -D --defined-only "$library" | wc -l)" \
        '{printf "%-11s %5d s wall %6.0f s CPU  _ext %6.1f MB  %5d exported symbols\n", build,
          wall, $1 + $2, bytes / 1e6, symbols}' "$work/$build.time"
done

"$python_bin" - "$work" <<'PY'
import subprocess
import sys

work = sys.argv[1]
# Each build in its own process: one mmcv per interpreter.
probe = r'''
import sys, time, torch
sys.path.insert(0, sys.argv[1])
import mmcv.ops as ops
torch.set_num_threads(1)
g = torch.Generator().manual_seed(0)
feats = torch.randn(2, 64, 100, 100, generator=g)
xy = torch.rand(512, 2, generator=g) * 80
wh = torch.rand(512, 2, generator=g) * 20 + 1
rois = torch.cat([torch.randint(0, 2, (512, 1), generator=g).float(), xy, xy + wh], 1)
outputs = {'roi_align': ops.roi_align(feats, rois, (7, 7), 1.0, 2, 'avg', True),
           'nms': ops.nms(torch.cat([xy, xy + wh], 1), torch.rand(512, generator=g), 0.5)[1],
           'box_iou_rotated': ops.box_iou_rotated(
               torch.cat([xy, wh, torch.rand(512, 1, generator=g)], 1),
               torch.cat([xy + 1, wh, torch.rand(512, 1, generator=g)], 1))}
start = time.perf_counter()
for _ in range(5):
    ops.roi_align(feats, rois, (7, 7), 1.0, 2, 'avg', True)
outputs['roi_align_ms'] = torch.tensor((time.perf_counter() - start) / 5 * 1000)
torch.save(outputs, sys.argv[2])
'''
import torch

results = {}
for build in ('mmcv-flags', 'g0', 'g0-pch'):
    out = f'{work}/{build}/ops.pt'
    subprocess.run([sys.executable, '-c', probe, f'{work}/{build}/site', out], check=True)
    results[build] = torch.load(out, weights_only=True)
reference = results['mmcv-flags']
for build, outputs in results.items():
    equal = all(torch.equal(outputs[k], reference[k]) for k in ('roi_align', 'nms',
                                                              'box_iou_rotated'))
    print(f'{build:<11} ops bitwise equal to mmcv-flags: {equal}; RoIAlign on 512 RoIs, one '
          f'thread: {float(outputs["roi_align_ms"]):.1f} ms')
    if not equal:
        sys.exit(1)
PY
