"""Benchmark the FCMAE encoder's sparse backends against each other and the dense backbone.

For each arch and mask ratio, one training step of the encoder (forward on the masked batch,
``loss = sum of the mean squares of the outputs``, ``backward``) is timed for

* ``gather``, ``spconv`` and ``dense`` — :class:`SparseConvNeXtV2` with that ``sparse_backend``;
  with ``--depthwise rows full_map``, one ``gather`` encoder per depthwise path (``gather rows``,
  ``gather full_map``; the default ``auto`` takes the row kernels on CPU, the full map on CUDA);
* ``full`` — the dense :class:`ConvNeXtV2` on the whole image, no mask (the cost FCMAE would have
  without sparsity),

in one process, interleaved (each repeat runs every model once, order rotated) after warm-up; the
median and interquartile range are reported (:mod:`benchmarks.timing`). The masks are
redrawn every repeat, the same for all backends. Memory is the size of the tensors autograd saves
for backward (counted once per storage through ``torch.autograd.graph.saved_tensors_hooks``): the
activation memory of the step, which is what sparsity saves. ``full/this`` is the speed-up over
``full``; with L patches of 32x32 pixels of which V stay visible, a sparse encoder can be at most
L/V faster than ``full`` (the FLOP limit), and ``share of limit`` is ``(full/this) / (L/V)``. On
CUDA (``--device cuda``) the allocator's peak during the step, above the memory held before it, is
reported too; CPU has no such counter.

Examples::

    python tools/analysis/benchmark_fcmae.py --out work_dirs/bench_fcmae.json
    python tools/analysis/benchmark_fcmae.py --archs atto --ratios 0.6 --repeats 3 --warmup 1
    python tools/analysis/benchmark_fcmae.py --device cuda --repeats 20 --warmup 5 \\
        --depthwise rows full_map
"""
import argparse
import json
import os.path as osp
import sys
import time
from collections.abc import Callable

import torch
from mmengine.logging import MMLogger

# benchmarks is in tools/, the folder above this script's; it is not installed.
sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from benchmarks.encoders import FULL, build_encoders, flop_limit, time_encoders  # noqa: E402
from benchmarks.environment import environment  # noqa: E402
from mmconvnextv2.models import SPARSE_BACKENDS  # noqa: E402
from mmconvnextv2.models.backbones.sparse_convnextv2 import DEPTHWISE_MODES  # noqa: E402


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--archs', nargs='+', default=['atto', 'tiny'])
    parser.add_argument('--ratios', nargs='+', type=float, default=[0.4, 0.6, 0.75])
    parser.add_argument('--backends', nargs='+', default=list(SPARSE_BACKENDS),
                        choices=SPARSE_BACKENDS)
    parser.add_argument('--depthwise', nargs='+', default=['auto'], choices=DEPTHWISE_MODES,
                        help="the gather backend's depthwise paths, one encoder each")
    parser.add_argument('--batch-size', type=int, default=16)
    parser.add_argument('--img-size', type=int, default=224)
    parser.add_argument('--repeats', type=int, default=7)
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument('--device', default='cpu', help="'cpu' or 'cuda'")
    parser.add_argument('--out', help='write all timings to this JSON file')
    return parser.parse_args()


def progress_printer(arch: str, ratio: float) -> Callable[[str], None]:
    """Prints the progress lines of one arch and mask ratio with the wall time."""

    def show(line: str) -> None:
        print(f'[{time.strftime("%H:%M:%S")}] {arch} ratio {ratio}: {line}', flush=True)

    return show


def print_table(arch: str, ratio: float, results: dict[str, dict[str, float]],
                limit: float) -> None:
    """One row per model; speed against ``dense`` and ``full``, the latter as a share of the
    FLOP limit ``limit`` (:func:`flop_limit`)."""
    dense = results.get('dense')
    full_ms = results[FULL]['median_ms']
    print(f'\n{arch}, mask ratio {ratio}, training step of the encoder; FLOP limit L/visible '
          f'{limit:.2f}')
    peak = 'peak_mb' in dense if dense else False
    print(f'{"model":<16}{"median ms":>11}{"IQR ms":>9}{"act. MB":>9}'
          + (f'{"peak MB":>9}' if peak else '') + f'{"dense/this":>12}{"mem this/dense":>16}'
          + f'{"full/this":>11}{"share of limit":>16}')
    for name, row in results.items():
        speed = dense['median_ms'] / row['median_ms'] if dense else float('nan')
        memory = row['activation_mb'] / dense['activation_mb'] if dense else float('nan')
        full_speed = full_ms / row['median_ms']
        print(f'{name:<16}{row["median_ms"]:>11.2f}{row["iqr_ms"]:>9.2f}'
              + f'{row["activation_mb"]:>9.1f}' + (f'{row["peak_mb"]:>9.1f}' if peak else '')
              + f'{speed:>12.2f}{memory:>16.2f}{full_speed:>11.2f}{full_speed / limit:>16.0%}')


def main() -> None:
    args = parse_args()
    # The current mmengine logger; at WARNING it keeps init_weights' per-parameter report quiet.
    MMLogger.get_instance('benchmark_fcmae', log_level='WARNING')
    device = torch.device(args.device)
    report = {'args': vars(args), 'environment': environment(), 'results': {},
              'flop_limits': {}}
    for arch in args.archs:
        models = build_encoders(arch, args.backends, device, args.depthwise)
        for ratio in args.ratios:
            results = time_encoders(models, ratio, args.batch_size, args.img_size, args.warmup,
                                    args.repeats, device, progress_printer(arch, ratio))
            limit = flop_limit(args.img_size, ratio)
            report['results'][f'{arch}@{ratio}'] = results
            report['flop_limits'][f'{arch}@{ratio}'] = limit
            print_table(arch, ratio, results, limit)
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(report, f, indent=2)
        print(f'\nwrote {args.out}')


if __name__ == '__main__':
    main()
