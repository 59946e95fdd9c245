"""Train the ConvNeXt V2-Atto Mask R-CNN on the bundled shapes until it has learned them; print APs.

Generates the 320-px shapes scenes if missing, trains
``configs/mask_rcnn/mask-rcnn_convnextv2-atto_fpn_shapes.py`` through mmdet's runner (as
``tools/train.py`` does), tests the last checkpoint (as ``tools/test.py`` does) and prints the
twelve COCO numbers (bbox and segm: AP, AP50, AP75, AP_s, AP_m, AP_l) with the wall time, and
draws four validation scenes with their predictions beside the ground truth
(``<work-dir>/detections.png``).

Examples:
    OMP_NUM_THREADS=2 .venv/bin/python tools/analysis/train_mask_rcnn_shapes.py
    .venv/bin/python tools/analysis/train_mask_rcnn_shapes.py --epochs 1 --num-train 64 \\
        --num-val 16 --data /tmp/shapes_trial --work-dir /tmp/mask_rcnn_trial   # a quick trial
"""
import argparse
import json
import os.path as osp
import sys
import time
from collections.abc import Sequence

# shapes_lab is in tools/, the folder above this script's; it is not installed.
sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmconvnextv2.analysis.detections import save_detection_grid  # noqa: E402
from mmconvnextv2.datasets import (DEFAULT_NUM_TRAIN, DEFAULT_NUM_VAL,  # noqa: E402
                                   ensure_shapes_dataset)
from shapes_lab.configs import COCO_AP_NAMES, SHAPES_DETECTION_SIZE, mask_rcnn_config  # noqa: E402
from shapes_lab.runs import train_mask_rcnn  # noqa: E402

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--data', default=osp.join(REPO, f'data/shapes_{SHAPES_DETECTION_SIZE}'),
                        help='shapes data folder (generated at 320 px if missing)')
    parser.add_argument('--work-dir', default=osp.join(REPO, 'work_dirs/mask_rcnn_shapes'),
                        help='where logs and checkpoints go')
    parser.add_argument('--epochs', type=int, help='training epochs (default: the config\'s)')
    parser.add_argument('--batch-size', type=int, help='training batch (default: the config\'s)')
    parser.add_argument('--num-train', type=int, default=DEFAULT_NUM_TRAIN,
                        help='training scenes to generate')
    parser.add_argument('--num-val', type=int, default=DEFAULT_NUM_VAL,
                        help='validation scenes to generate (the test set)')
    parser.add_argument('--init-checkpoint',
                        help='initialise the backbone from this checkpoint (an FCMAE run or '
                             'encoder, or any checkpoint mmconvnextv2.ConvNeXtV2Pretrained reads)')
    parser.add_argument('--out', help='also write the twelve numbers and the wall time as JSON')
    return parser.parse_args(argv)


def ap_table(metrics: dict[str, float]) -> list[str]:
    """The twelve numbers as a two-row table, in percent."""
    lines = [f'{"":<6}' + ''.join(f'{name:>9}' for name in COCO_AP_NAMES)]
    for task in ('bbox', 'segm'):
        lines.append(f'{task:<6}' + ''.join(f'{100 * metrics[f"{task}_{name}"]:>9.1f}'
                                            for name in COCO_AP_NAMES))
    return lines


def main(argv: Sequence[str] | None = None) -> dict[str, float]:
    args = parse_args(argv)
    start = time.time()
    ensure_shapes_dataset(args.data, num_train=args.num_train, num_val=args.num_val,
                          size=SHAPES_DETECTION_SIZE)
    run = train_mask_rcnn(args.data, args.work_dir, init_checkpoint=args.init_checkpoint,
                          max_epochs=args.epochs, batch_size=args.batch_size)
    metrics = run.metrics
    wall = time.time() - start
    picture = save_detection_grid(mask_rcnn_config(args.data, args.work_dir), run.checkpoint,
                                  osp.join(args.work_dir, 'detections.png'))
    print('\n'.join(['', 'COCO AP (%) on the shapes validation scenes:', *ap_table(metrics),
                     f'wall time {wall:.0f} s (data, training, test)',
                     f'predictions beside the ground truth: {picture}']))
    if args.out:
        with open(args.out, 'w') as f:
            json.dump({**metrics, 'wall_time_s': wall}, f, indent=2)
    return metrics


if __name__ == '__main__':
    main()
