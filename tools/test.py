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

from mmconvnextv2.utils import atomic_write_text, build_runner, load_config


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


def plain(metrics: dict[str, object]) -> dict[str, object]:
    """The metrics with numpy numbers as Python ones (mmseg reports numpy float32)."""
    return {name: value.item() if hasattr(value, 'item') else value
            for name, value in metrics.items()}


def summary(metrics: dict[str, object]) -> str:
    """One ``name: value`` line per metric, four significant digits (``accuracy/top1: 76.7``,
    ``coco/bbox_mAP: 0.438``)."""
    return '\n'.join(f'{name}: {value:.4g}' if isinstance(value, float) else f'{name}: {value}'
                     for name, value in sorted(metrics.items()))


def main() -> None:
    args = parse_args()
    if not os.path.isfile(args.checkpoint):
        raise FileNotFoundError(f'Checkpoint {args.checkpoint!r} does not exist.')
    cfg = load_config(args.config, args.work_dir, args.cfg_options)
    cfg.launcher = args.launcher
    cfg.load_from = args.checkpoint
    metrics = plain(build_runner(cfg).test())
    print(summary(metrics), flush=True)
    if args.out:
        atomic_write_text(args.out, json.dumps(metrics, indent=2))


if __name__ == '__main__':
    main()
