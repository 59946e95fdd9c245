"""Evaluate a checkpoint with an mmpretrain, mmdet or mmseg config that uses mmconvnextv2 modules.

Prints every metric of the config's evaluator when done (the ImageNet configs report top-1 and
top-5; multi-resolution tests report them per resolution) and writes them to ``--out``.

Example:
    python tools/test.py configs/convnextv2/convnextv2-atto_shapes.py work_dirs/.../epoch_30.pth
"""
import argparse
import json
import os

from mmengine.config import DictAction

from mmconvnextv2.apis import build_runner, load_config


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='directory for logs')
    parser.add_argument('--out', help='write the metrics to this JSON file')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config entries, e.g. test_dataloader.batch_size=8')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def summary(metrics: dict[str, float]) -> str:
    """One ``name: value`` line per metric, e.g. ``accuracy/top1: 76.70``."""
    return '\n'.join(f'{name}: {value:.2f}' if isinstance(value, float) else f'{name}: {value}'
                     for name, value in sorted(metrics.items()))


def main() -> None:
    args = parse_args()
    if not os.path.isfile(args.checkpoint):
        raise FileNotFoundError(f'Checkpoint {args.checkpoint!r} does not exist.')
    cfg = load_config(args.config, args.work_dir, args.cfg_options)
    cfg.launcher = args.launcher
    cfg.load_from = args.checkpoint
    metrics = build_runner(cfg).test()
    print(summary(metrics), flush=True)
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(metrics, f, indent=2)


if __name__ == '__main__':
    main()
