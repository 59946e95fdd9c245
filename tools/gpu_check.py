"""Run every stage of the project on one device and check it: the GPU check (docs/gpu.md).

Rows: the backbone against timm (eager and torch.compile, fp32/bf16/fp16), the FCMAE sparse
encoder's backends against the dense one on the CPU (TF32 off), an FCMAE encoder step per
backend (time, memory), fine-tuning steps under --amp's precision, Mask R-CNN and UperNet trained
a few iterations and tested. See tools/shapes_lab/gpu_stages.py for what each row checks. Each
stage's console goes to <work-dir>/<stage>/console.log. Prints one table, writes the JSON, and
exits with status 1 when a row failed or raised.

Examples:
    .venv/bin/python tools/gpu_check.py --out work_dirs/gpu_check.json        # on a GPU, minutes
    OMP_NUM_THREADS=1 .venv/bin/python tools/gpu_check.py --device cpu --quick  # ~30 s, 1 thread
    .venv/bin/python tools/gpu_check.py --stages backbone fcmae                 # some stages only
"""
import argparse
import json
import os
import os.path as osp
import sys
from collections.abc import Sequence

from shapes_lab.sizes import PRESETS, add_preset_argument

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    # Nothing imports torch here: --device cpu must hide the GPUs before anything starts CUDA.
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--device', choices=('cuda', 'cpu'), default='cuda',
                        help="where to run; 'cpu' also hides any GPU from the runners")
    add_preset_argument(parser, ('gpu', 'quick'), alias='quick')
    parser.add_argument('--stages', nargs='+',
                        help='some of: backbone sparse-equivalence fcmae finetune-amp mask-rcnn '
                             'upernet (default: all)')
    parser.add_argument('--work-dir', default=osp.join(REPO, 'work_dirs', 'gpu_check'),
                        help='logs, checkpoints and the generated shapes scenes')
    parser.add_argument('--out', help='write the results as JSON here')
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    if args.device == 'cpu':
        # The runners of Mask R-CNN and UperNet take a GPU whenever one shows.
        os.environ['CUDA_VISIBLE_DEVICES'] = ''
    import torch
    from mmengine.logging import MMLogger

    from shapes_lab.checks import CheckRow, format_table
    from shapes_lab.gpu_stages import STAGES, run_gpu_check
    if args.device == 'cuda' and not torch.cuda.is_available():
        raise SystemExit('--device cuda, but torch sees no GPU (torch.cuda.is_available() is '
                         'False); use --device cpu --quick on a machine without one.')
    # mmengine's current logger at WARNING keeps per-parameter reports of the model builders quiet.
    MMLogger.get_instance('gpu_check', log_level='WARNING')
    device = torch.device(args.device)
    os.makedirs(args.work_dir, exist_ok=True)
    report = run_gpu_check(device, PRESETS[args.preset], args.work_dir,
                           tuple(args.stages or STAGES))
    rows = [CheckRow(**row) for row in report['rows']]
    print('\n' + format_table(rows))
    # The JSON keeps torch's build flags (dozens of lines) and the seed mmengine reports.
    environment = ', '.join(f'{key} {value}' for key, value in report['environment'].items()
                            if key not in ('PyTorch compiling details', 'numpy_random_seed'))
    print(f'\n{environment}\nwall time {report["wall_s"]:.0f} s; '
          + ('all rows ok or skipped' if report['ok'] else 'SOME ROWS FAILED'))
    if args.out:
        os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
        with open(args.out, 'w') as f:
            json.dump({'device': args.device, 'preset': args.preset, **report}, f, indent=1)
        print(f'wrote {args.out}')
    if not report['ok']:
        sys.exit(1)


if __name__ == '__main__':
    main()
