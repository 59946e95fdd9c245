"""What a constant prediction scores on the shapes: the chance levels the tables show beside
the trained models."""
import glob
import os.path as osp

import numpy as np
from PIL import Image

from mmconvnextv2.datasets import SHAPE_CLASSES, layout_paths

# Top-1 (%) of always predicting one class: the classes are balanced.
CHANCE_TOP1 = 100 / len(SHAPE_CLASSES)
# COCO AP of predicting nothing.
CHANCE_AP = 0.0


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
