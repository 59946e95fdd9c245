"""Run every stage of the project on one device and check it: the GPU check (docs/gpu.md).

Rows: the backbone against timm (eager and torch.compile, fp32/bf16/fp16), the FCMAE sparse
encoder's backends against the dense one on the CPU (TF32 off), an FCMAE encoder step per
backend (time, memory), fine-tuning steps under --amp's precision, Mask R-CNN and UperNet trained
a few iterations and tested. See mmconvnextv2/apis/gpu_check.py for what each row checks. Prints
one table, writes the JSON, and exits with status 1 when a row failed or raised.

Examples:
    .venv/bin/python tools/gpu_check.py --out work_dirs/gpu_check.json        # on a GPU, minutes
    OMP_NUM_THREADS=1 .venv/bin/python tools/gpu_check.py --device cpu --quick  # < 1 min, 2 cores
    .venv/bin/python tools/gpu_check.py --stages backbone fcmae                 # some stages only
"""
import argparse
import json
import os
import os.path as osp
import sys

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def parse_args() -> argparse.Namespace:
    # Nothing imports torch here: --device cpu must hide the GPUs before anything starts CUDA.
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--device', choices=('cuda', 'cpu'), default='cuda',
                        help="where to run; 'cpu' also hides any GPU from the runners")
    parser.add_argument('--quick', action='store_true',
                        help="toy sizes and torch.compile's 'eager' backend (the test runs this)")
    parser.add_argument('--stages', nargs='+',
                        help='some of: backbone sparse-equivalence fcmae finetune-amp mask-rcnn '
                             'upernet (default: all)')
    parser.add_argument('--work-dir', default=osp.join(REPO, 'work_dirs', 'gpu_check'),
                        help='logs, checkpoints and the generated shapes scenes')
    parser.add_argument('--out', help='write the results as JSON here')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if args.device == 'cpu':
        # The runners of Mask R-CNN and UperNet take a GPU whenever one shows.
        os.environ['CUDA_VISIBLE_DEVICES'] = ''
    import torch
    from mmengine.logging import MMLogger

    from mmconvnextv2.apis.gpu_check import (FULL_SIZES, QUICK_SIZES, STAGES, CheckRow, format_row,
                                             format_table, run_gpu_check)
    if args.device == 'cuda' and not torch.cuda.is_available():
        raise SystemExit('--device cuda, but torch sees no GPU (torch.cuda.is_available() is '
                         'False); use --device cpu --quick on a machine without one.')
    # mmengine's current logger at WARNING keeps per-parameter reports of the model builders quiet.
    MMLogger.get_instance('gpu_check', log_level='WARNING')
    device = torch.device(args.device)
    sizes = QUICK_SIZES if args.quick else FULL_SIZES
    os.makedirs(args.work_dir, exist_ok=True)
    report = run_gpu_check(device, sizes, args.work_dir, tuple(args.stages or STAGES),
                           progress=lambda row: print(f'[gpu_check] {format_row(row)}',
                                                      flush=True))
    rows = [CheckRow(**row) for row in report['rows']]
    print('\n' + format_table(rows))
    environment = ', '.join(f'{key} {value}' for key, value in report['environment'].items())
    print(f'\n{environment}\nwall time {report["wall_s"]:.0f} s; '
          + ('all rows ok or skipped' if report['ok'] else 'SOME ROWS FAILED'))
    if args.out:
        os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
        with open(args.out, 'w') as f:
            json.dump({'device': args.device, 'quick': args.quick, **report}, f, indent=1)
        print(f'wrote {args.out}')
    if not report['ok']:
        sys.exit(1)


if __name__ == '__main__':
    main()
