"""UperNet on the bundled shapes scenes: the metrics reported, the schedule, and the score of the
best constant prediction.

:func:`~mmconvnextv2.apis.shapes_runs.train_upernet` trains and tests it.
"""
import glob
import os.path as osp

import numpy as np
from PIL import Image

from mmconvnextv2.datasets import SHAPE_CLASSES, layout_paths

# What mmseg's IoUMetric reports with iou_metrics=['mIoU'] (percent).
SEG_METRICS = ('aAcc', 'mIoU', 'mAcc')


def upernet_schedule(max_iters: int) -> dict[str, object]:
    """Overrides for ``max_iters`` of the shapes UperNet: warm-up over the first 5 %, linear
    decay to the end, one checkpoint there.

    Raises:
        ValueError: If ``max_iters < 1``.
    """
    if max_iters < 1:
        raise ValueError(f'max_iters must be >= 1, got {max_iters}')
    warmup = max(1, max_iters // 20)  # as in the config: 200 of 4000 iterations
    return {
        'train_cfg.max_iters': max_iters,
        'train_cfg.val_interval': max_iters,
        'default_hooks.checkpoint.interval': max_iters,
        'param_scheduler.0.end': warmup,
        'param_scheduler.1.begin': warmup,
        'param_scheduler.1.end': max(max_iters, warmup + 1),
    }


def background_only_miou(data_dir: str) -> float:
    """The mIoU (%) of labelling every pixel background, on the validation scenes of ``data_dir``.

    No constant prediction scores higher: background covers most pixels. As mmseg's IoUMetric
    computes it, background's IoU is its share of the pixels, every other class present scores
    0, and classes absent from the labels (and from the prediction) are left out of the mean.

    Raises:
        FileNotFoundError: If ``data_dir`` holds no validation label maps.
    """
    folder = osp.join(layout_paths(data_dir)['ade'], 'annotations', 'validation')
    paths = sorted(glob.glob(osp.join(folder, '*.png')))
    if not paths:
        raise FileNotFoundError(f'No label maps in {folder}; generate the data with '
                                f'ensure_shapes_dataset({data_dir!r}).')
    pixels = np.zeros(1 + len(SHAPE_CLASSES), np.int64)
    for path in paths:
        # ADE20K convention: 0 = unlabelled (ignored), 1 = background, 2.. = the shapes.
        labels = np.asarray(Image.open(path)).astype(np.int64).ravel() - 1
        pixels += np.bincount(labels[labels >= 0], minlength=len(pixels))
    return float(100 * pixels[0] / pixels.sum() / np.count_nonzero(pixels))
