"""The detection picture: mask blending by formula, COCO segmentations decoded in each form, and
ground truth / prediction rows of a shapes Mask R-CNN checked against the COCO annotation file."""
import json

import numpy as np
import pytest
import torch
from mmengine.registry import DefaultScope
from PIL import Image
from pycocotools import mask as mask_utils

from mmconvnextv2.analysis.detections import (build_test_dataset, decode_segmentation,
                                              detection_rows, load_detector, overlay_masks,
                                              plot_detection_rows)
from mmconvnextv2.datasets import layout_paths, write_shapes_dataset
from mmconvnextv2.utils import load_weights_only
from shapes_lab.configs import SHAPES_DETECTION_SIZE, mask_rcnn_config


def test_overlay_blends_each_mask_in_order_and_keeps_other_pixels():
    image = np.random.default_rng(0).integers(0, 256, (5, 6, 3), dtype=np.uint8)
    masks = np.zeros((2, 5, 6), bool)
    masks[0, 1:3, 1:4] = True
    masks[1, 2:4, 3:5] = True  # overlaps the first at (2, 3)
    colors = np.array([[255, 0, 0], [0, 0, 255]])
    out = overlay_masks(image, masks, colors, alpha=0.25)

    expected = image.astype(np.float64)
    for mask, color in zip(masks, colors):
        expected[mask] = 0.75 * expected[mask] + 0.25 * color
    np.testing.assert_array_equal(out, np.round(expected).astype(np.uint8))
    untouched = ~masks.any(0)
    np.testing.assert_array_equal(out[untouched], image[untouched])


def test_segmentations_decode_alike_in_every_coco_form():
    mask = np.zeros((7, 9), bool)
    mask[2:5, 3:8] = True
    compressed = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    # Uncompressed RLE, written out by hand: alternating run lengths in column-major order,
    # starting with background.
    flat = mask.flatten(order='F').astype(int)
    changes = np.flatnonzero(np.diff(flat)) + 1
    counts = np.diff(np.concatenate([[0], changes, [flat.size]])).tolist()
    uncompressed = dict(size=[7, 9], counts=counts if flat[0] == 0 else [0] + counts)

    np.testing.assert_array_equal(decode_segmentation(compressed, 7, 9), mask)
    np.testing.assert_array_equal(decode_segmentation(uncompressed, 7, 9), mask)
    # A polygon along the rectangle's pixel edges covers exactly its pixels.
    polygon = [[3, 2, 8, 2, 8, 5, 3, 5]]
    np.testing.assert_array_equal(decode_segmentation(polygon, 7, 9), mask)


@pytest.fixture(scope='module')
def shapes_detector(tmp_path_factory):
    """A randomly initialised shapes Mask R-CNN saved as a checkpoint, and its config."""
    root = tmp_path_factory.mktemp('shapes_vis')
    data_dir = str(root / 'data')
    write_shapes_dataset(data_dir, 2, 3, seed=0, size=SHAPES_DETECTION_SIZE, progress=False)
    cfg = mask_rcnn_config(data_dir, str(root / 'work'))
    torch.manual_seed(0)
    from mmdet.registry import MODELS
    checkpoint = str(root / 'detector.pth')
    # A module fixture runs outside conftest's per-test scope: leave the process's scope as found.
    with DefaultScope.overwrite_default_scope('mmdet'):
        torch.save({'state_dict': MODELS.build(cfg.model).state_dict()}, checkpoint)
    return cfg, checkpoint, layout_paths(data_dir)['coco_val_ann']


def test_rows_pair_predictions_with_the_annotated_instances(shapes_detector, tmp_path):
    cfg, checkpoint, ann_file = shapes_detector
    with open(ann_file) as f:
        coco = json.load(f)
    dataset = build_test_dataset(cfg)
    model = load_detector(cfg, checkpoint)
    rows = detection_rows(model, dataset, [0, 2], score_thr=0.1)

    for row, index in zip(rows, [0, 2]):
        info = dataset.get_data_info(index)
        image = next(img for img in coco['images'] if img['id'] == info['img_id'])
        anns = [ann for ann in coco['annotations'] if ann['image_id'] == image['id']]
        assert row.image.shape == (image['height'], image['width'], 3)
        np.testing.assert_array_equal(
            row.image, np.asarray(Image.open(info['img_path']).convert('RGB')))
        # Ground truth: one instance per annotation, boxes from xywh, masks of the stated area.
        assert len(row.truth.labels) == len(anns) > 0
        xyxy = [[x, y, x + w, y + h] for x, y, w, h in (ann['bbox'] for ann in anns)]
        np.testing.assert_allclose(row.truth.boxes, xyxy, atol=1e-4)
        assert row.truth.masks.sum((1, 2)).tolist() == [ann['area'] for ann in anns]
        names = {cat['id']: cat['name'] for cat in coco['categories']}
        classes = dataset.metainfo['classes']
        assert [classes[label] for label in row.truth.labels] == \
            [names[ann['category_id']] for ann in anns]
        # Predictions: at the original size, at least the threshold.
        pred = row.prediction
        assert pred.masks.shape[1:] == row.image.shape[:2]
        assert len(pred.masks) == len(pred.boxes) == len(pred.labels) == len(pred.scores)
        assert (pred.scores >= 0.1).all()

    out = plot_detection_rows(rows, dataset.metainfo['classes'], str(tmp_path / 'det.png'), 0.1)
    assert Image.open(out).size == (720, 720)  # 6 x 3 inches per row at 120 dpi


def test_rows_drop_predictions_below_the_threshold(shapes_detector):
    cfg, checkpoint, _ = shapes_detector
    rows = detection_rows(load_detector(cfg, checkpoint), build_test_dataset(cfg), [1],
                          score_thr=1.01)
    assert len(rows[0].prediction.labels) == 0 and rows[0].prediction.masks.shape[0] == 0


def test_incomplete_checkpoint_and_bad_index_are_refused(shapes_detector, tmp_path):
    cfg, checkpoint, _ = shapes_detector
    state = load_weights_only(checkpoint)['state_dict']
    state.pop('roi_head.mask_head.conv_logits.weight')
    partial = str(tmp_path / 'partial.pth')
    torch.save({'state_dict': state}, partial)
    with pytest.raises(RuntimeError, match='conv_logits'):
        load_detector(cfg, partial)
    with pytest.raises(IndexError, match='outside the test set of 3'):
        detection_rows(load_detector(cfg, checkpoint), build_test_dataset(cfg), [3])
