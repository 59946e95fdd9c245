"""Draw a detector's test-set predictions beside the ground truth: masks, boxes, classes, scores.

Example (the shapes Mask R-CNN after tools/analysis/train_mask_rcnn_shapes.py):
    python tools/visualization/vis_detections.py \\
        configs/mask_rcnn/mask-rcnn_convnextv2-atto_fpn_shapes.py \\
        work_dirs/mask_rcnn_shapes/epoch_12.pth --out work_dirs/mask_rcnn_shapes/detections.png
"""
import argparse
from collections.abc import Sequence

from mmengine.config import Config, DictAction

import mmconvnextv2.models  # noqa: F401
from mmconvnextv2.analysis.detections import save_detection_grid


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config', help='mmdet config with a test_dataloader (COCO layout)')
    parser.add_argument('checkpoint', help='checkpoint of the whole detector')
    parser.add_argument('--out', required=True, help='the PNG to write')
    parser.add_argument('--indices', type=int, nargs='+', default=[0, 1, 2, 3],
                        help='test-set images to draw, one row each')
    parser.add_argument('--score-thr', type=float, default=0.5,
                        help='leave out predictions scoring lower')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, e.g. the test data_root')
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> str:
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    out = save_detection_grid(cfg, args.checkpoint, args.out, args.indices, args.score_thr,
                              args.device)
    print(f'{len(args.indices)} test images (ground truth | prediction) -> {out}')
    return out


if __name__ == '__main__':
    main()
