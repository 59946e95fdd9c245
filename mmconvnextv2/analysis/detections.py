"""Instance-segmentation results as a picture: ground truth beside the detector's prediction."""
import os
import os.path as osp
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import mmcv
import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import BaseDataset, pseudo_collate
from mmengine.registry import DefaultScope
from pycocotools import mask as mask_utils

from mmconvnextv2.utils.checkpoint import load_source

from .features import read_config


class Instances(NamedTuple):
    """Instances of one image at its original size."""

    masks: np.ndarray  # (N, H, W) bool
    boxes: np.ndarray  # (N, 4) x1, y1, x2, y2
    labels: np.ndarray  # (N,) class indices
    scores: np.ndarray | None = None  # (N,), predictions only


class DetectionRow(NamedTuple):
    """One image (RGB, original size) with its ground truth and its prediction."""

    image: np.ndarray
    truth: Instances
    prediction: Instances


def decode_segmentation(segmentation: list | Mapping[str, Any], height: int,
                        width: int) -> np.ndarray:
    """A COCO ``segmentation`` (polygons, RLE or uncompressed RLE) as an (H, W) bool mask."""
    if isinstance(segmentation, list):  # polygons: the union of their areas
        rle = mask_utils.merge(mask_utils.frPyObjects(segmentation, height, width))
    elif isinstance(segmentation.get('counts'), list):  # uncompressed RLE
        rle = mask_utils.frPyObjects(segmentation, height, width)
    else:
        rle = segmentation
    return mask_utils.decode(rle).astype(bool)


def ground_truth_instances(data_info: Mapping[str, Any]) -> Instances:
    """The annotated instances of an mmdet ``CocoDataset`` entry, ignored ones left out."""
    height, width = data_info['height'], data_info['width']
    kept = [inst for inst in data_info['instances'] if not inst.get('ignore_flag', 0)]
    masks = np.zeros((len(kept), height, width), bool)
    for i, inst in enumerate(kept):
        masks[i] = decode_segmentation(inst['mask'], height, width)
    return Instances(masks, np.array([inst['bbox'] for inst in kept], np.float32).reshape(-1, 4),
                     np.array([inst['bbox_label'] for inst in kept], np.int64))


def predicted_instances(sample: Any, score_thr: float) -> Instances:
    """The ``pred_instances`` of a ``DetDataSample`` scoring at least ``score_thr``."""
    pred = sample.pred_instances
    keep = pred.scores >= score_thr
    return Instances(pred.masks[keep].bool().cpu().numpy(), pred.bboxes[keep].cpu().numpy(),
                     pred.labels[keep].cpu().numpy(), pred.scores[keep].cpu().numpy())


def overlay_masks(image: np.ndarray, masks: np.ndarray, colors: np.ndarray,
                  alpha: float = 0.5) -> np.ndarray:
    """Blends ``colors[i]`` (RGB, 0-255) into ``image`` where ``masks[i]`` is set, in order.

    Args:
        image: (H, W, 3) uint8 image.
        masks: (N, H, W) bool masks.
        colors: (N, 3) colour of each mask.
        alpha: Weight of the colour.

    Returns:
        The blended (H, W, 3) uint8 image; pixels outside every mask are unchanged.
    """
    out = image.astype(np.float32)
    for mask, color in zip(masks, np.asarray(colors, np.float32)):
        out[mask] = (1 - alpha) * out[mask] + alpha * color
    return out.round().astype(np.uint8)


def class_colors(num_classes: int) -> np.ndarray:
    """One distinct RGB colour (0-255) per class, from matplotlib's tab10/tab20."""
    from matplotlib import colormaps
    cmap = colormaps['tab10' if num_classes <= 10 else 'tab20']
    return np.array([cmap(i % cmap.N)[:3] for i in range(num_classes)]) * 255


def load_detector(config: str | Config, checkpoint: str,
                  device: str = 'cpu') -> torch.nn.Module:
    """Builds ``config.model`` in its default scope (mmdet when unset) in eval mode, with every
    weight from ``checkpoint`` (a whole-detector checkpoint, as training writes it).

    Raises:
        RuntimeError: If the checkpoint lacks weights of the model or holds others.
    """
    from mmdet.registry import MODELS
    cfg = read_config(config)
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope', 'mmdet')):
        model = MODELS.build(cfg.model)
    model.load_state_dict(load_source(checkpoint), strict=True)
    return model.to(device).eval()


def build_test_dataset(config: str | Config) -> BaseDataset:
    """The ``test_dataloader`` dataset of an mmdet config, built in the config's scope."""
    from mmdet.registry import DATASETS
    cfg = read_config(config)
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope', 'mmdet')):
        return DATASETS.build(cfg.test_dataloader.dataset)


@torch.no_grad()
def detection_rows(model: torch.nn.Module, dataset: BaseDataset, indices: Sequence[int],
                   score_thr: float = 0.5) -> list[DetectionRow]:
    """Runs a detector on dataset images and pairs each prediction with the ground truth.

    Args:
        model: An mmdet detector in eval mode (:func:`load_detector`).
        dataset: An mmdet ``CocoDataset`` with a test pipeline (:func:`build_test_dataset`).
        indices: Indices into ``dataset``.
        score_thr: Predictions scoring lower are left out.

    Returns:
        One :class:`DetectionRow` per index.

    Raises:
        IndexError: If an index is outside the dataset.
    """
    rows = []
    for index in indices:
        if not 0 <= index < len(dataset):
            raise IndexError(f'Image index {index} is outside the test set of {len(dataset)} '
                             'images.')
        info = dataset.get_data_info(index)
        sample = model.test_step(pseudo_collate([dataset[index]]))[0]
        rows.append(DetectionRow(mmcv.imread(info['img_path'], channel_order='rgb'),
                                 ground_truth_instances(info),
                                 predicted_instances(sample, score_thr)))
    return rows


def plot_detection_rows(rows: Sequence[DetectionRow], class_names: Sequence[str], path: str,
                        score_thr: float) -> str:
    """Draws each row as ground truth | prediction (masks, boxes, class and score) into a PNG.

    Uses matplotlib's object API (no pyplot), so no display or global backend is involved.

    Returns:
        ``path``; its folder is created.
    """
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle
    colors = class_colors(len(class_names))
    fig = Figure(figsize=(6, 3 * len(rows)))
    axes = fig.subplots(len(rows), 2, squeeze=False)
    titles = ('ground truth', f'prediction (score >= {score_thr:g})')
    for (image, *panels), row_axes in zip(rows, axes):
        for ax, instances, title in zip(row_axes, panels, titles):
            ax.imshow(overlay_masks(image, instances.masks, colors[instances.labels]))
            for i, (box, label) in enumerate(zip(instances.boxes, instances.labels)):
                x1, y1, x2, y2 = box
                color = colors[label] / 255
                ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, lw=1.2,
                                       edgecolor=color))
                text = class_names[label]
                if instances.scores is not None:
                    text += f' {instances.scores[i]:.2f}'
                ax.text(x1, y1 - 2, text, fontsize=6, color='white',
                        bbox=dict(facecolor=color, alpha=0.8, pad=1, lw=0))
            ax.set_title(title, fontsize=8)
            ax.axis('off')
    fig.tight_layout()
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=120)
    return path


def save_detection_grid(config: str | Config, checkpoint: str, path: str,
                        indices: Sequence[int] = (0, 1, 2, 3), score_thr: float = 0.5,
                        device: str = 'cpu') -> str:
    """Ground truth | prediction for test-set images of a detector, as one PNG.

    Returns:
        ``path``.
    """
    cfg = read_config(config)
    dataset = build_test_dataset(cfg)
    rows = detection_rows(load_detector(cfg, checkpoint, device), dataset, indices, score_thr)
    return plot_detection_rows(rows, dataset.metainfo['classes'], path, score_thr)
