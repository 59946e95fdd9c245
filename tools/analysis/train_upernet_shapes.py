"""Train UperNet with ConvNeXt V2-Atto on the bundled shapes long enough to learn them (CPU), then
report mIoU, mAcc and aAcc on the 200 validation scenes, single-scale and multi-scale + flip.

Runs configs/upernet/convnextv2-atto_upernet_shapes.py through the same runner as tools/train.py
(:func:`shapes_lab.runs.train_upernet`).

Examples:
    python tools/analysis/train_upernet_shapes.py                       # the config's 4000 iters
    python tools/analysis/train_upernet_shapes.py --max-iters 200       # a short trial
    python tools/analysis/train_upernet_shapes.py --init-checkpoint \\
        work_dirs/demo/classification/epoch_30.pth                     # from a shapes classifier
"""
import argparse
import os.path as osp
import sys
import time

# shapes_lab is in tools/, the folder above this script's; it is not installed.
sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmconvnextv2.datasets import ensure_shapes_dataset  # noqa: E402
from shapes_lab.runs import train_upernet  # noqa: E402

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--data', default=osp.join(REPO, 'data/shapes'),
                        help='the bundled shapes data (generated if missing)')
    parser.add_argument('--work-dir', default=osp.join(REPO, 'work_dirs/upernet_shapes'),
                        help='where logs and checkpoints go')
    parser.add_argument('--max-iters', type=int,
                        help="training iterations (default: the config's 4000)")
    parser.add_argument('--init-checkpoint',
                        help='initialise the backbone from this checkpoint (a classifier, an '
                             'FCMAE run or encoder: any that mmconvnextv2.ConvNeXtV2Pretrained '
                             'reads) instead of from scratch')
    parser.add_argument('--num-workers', type=int,
                        help="data loading processes (default: the config's 1)")
    parser.add_argument('--no-tta', action='store_true',
                        help='skip the multi-scale + flip test')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    start = time.time()
    ensure_shapes_dataset(args.data)
    run = train_upernet(args.data, args.work_dir, tta=not args.no_tta,
                        init_checkpoint=args.init_checkpoint, max_iters=args.max_iters,
                        num_workers=args.num_workers)
    elapsed = time.time() - start
    print(f'\nUperNet + ConvNeXt V2-Atto, shapes, {run.iters} iterations, {elapsed:.0f} s')
    print(f'{"test":<22}{"mIoU":>8}{"mAcc":>8}{"aAcc":>8}')
    rows = [('single-scale', '')]
    if not args.no_tta:
        rows.append(('multi-scale + flip', 'tta_'))
    for name, prefix in rows:
        print(f'{name:<22}' + ''.join(f'{run.metrics[prefix + key]:>8.2f}'
                                      for key in ('mIoU', 'mAcc', 'aAcc')))
    print(f'\ncheckpoint: {run.checkpoint}\nlogs:       {run.log_dir}')


if __name__ == '__main__':
    main()
