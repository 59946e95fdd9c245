"""Mask R-CNN with ConvNeXt V2-Atto on the bundled shapes scenes: train, test, return the COCO APs.

The demo, ``tools/analysis/train_mask_rcnn_shapes.py`` and the tests all go through
:func:`train_test_mask_rcnn_shapes`, which builds mmdet runners from
``configs/mask_rcnn/mask-rcnn_convnextv2-atto_fpn_shapes.py`` exactly as ``tools/train.py`` and
``tools/test.py`` do: it trains (without validation, like ``tools/train.py --no-validate``), then
tests the last checkpoint in a fresh runner.
"""
import os.path as osp
from typing import Dict, Optional

from mmengine.runner import find_latest_checkpoint

import mmconvnextv2
from mmconvnextv2.datasets import layout_paths
from .runner import build_runner, load_config

SHAPES_MASK_RCNN_CONFIG = osp.join(osp.dirname(mmconvnextv2.__file__), '.mim', 'configs',
                                   'mask_rcnn', 'mask-rcnn_convnextv2-atto_fpn_shapes.py')
# COCO splits AP into small / medium / large at 32² and 96² pixels of the *original* image. In
# scenes of 320 px all three occur (at the classifier's 224 px no shape is large, and COCO would
# report AP_l as -1); the config resizes them to 224 px for the network.
SHAPES_DETECTION_SIZE = 320
COCO_AP_NAMES = ('mAP', 'mAP_50', 'mAP_75', 'mAP_s', 'mAP_m', 'mAP_l')
# The twelve numbers of mmdet's CocoMetric for bbox and segm, without its 'coco/' prefix.
COCO_AP_KEYS = tuple(f'{task}_{name}' for task in ('bbox', 'segm') for name in COCO_AP_NAMES)


def shapes_data_options(data_dir: str) -> Dict[str, object]:
    """Config overrides that point the shapes Mask R-CNN config at the data in ``data_dir``.

    Args:
        data_dir: Output folder of :func:`mmconvnextv2.datasets.ensure_shapes_dataset` (it holds
            ``coco/``).

    Returns:
        ``--cfg-options``-style overrides of the data roots and the evaluators' annotation files.
    """
    paths = layout_paths(data_dir)
    options: Dict[str, object] = {}
    for split in ('train', 'val', 'test'):
        options[f'{split}_dataloader.dataset.data_root'] = paths['coco']
    for split in ('val', 'test'):
        options[f'{split}_evaluator.ann_file'] = paths['coco_val_ann']
    return options


def schedule_options(max_epochs: int) -> Dict[str, object]:
    """Overrides for a run of ``max_epochs``: lr steps at 3/4 and 11/12, one final checkpoint.

    Args:
        max_epochs: Number of training epochs, ``>= 1``.

    Returns:
        Overrides of the shapes config's ``train_cfg``, step schedule and checkpoint interval.
    """
    if max_epochs < 1:
        raise ValueError(f'max_epochs must be >= 1, got {max_epochs}')
    return {
        'train_cfg.max_epochs': max_epochs,
        'param_scheduler.1.end': max_epochs,
        'param_scheduler.1.milestones': [max(1, round(max_epochs * 3 / 4)),
                                         max(1, round(max_epochs * 11 / 12))],
        'default_hooks.checkpoint.interval': max_epochs,
    }


def train_test_mask_rcnn_shapes(data_dir: str, work_dir: str,
                                max_epochs: Optional[int] = None,
                                batch_size: Optional[int] = None,
                                init_checkpoint: Optional[str] = None,
                                cfg_options: Optional[Dict[str, object]] = None,
                                config: str = SHAPES_MASK_RCNN_CONFIG) -> Dict[str, float]:
    """Trains the shapes Mask R-CNN, tests its last checkpoint and returns the COCO APs.

    Args:
        data_dir: The shapes data, generated with ``ensure_shapes_dataset(data_dir,
            size=SHAPES_DETECTION_SIZE)``.
        work_dir: Where logs and checkpoints go.
        max_epochs: Training epochs; the config's 12 when None (see :func:`schedule_options`).
        batch_size: Training batch; the config's 8 when None.
        init_checkpoint: Backbone weights in any layout ``mmconvnextv2.ConvNeXtV2Pretrained``
            reads (e.g. an FCMAE run, or its encoder exported by
            ``tools/model_converters/fcmae_to_backbone.py``); from scratch when None.
        cfg_options: Further overrides, applied last, e.g. ``{'train_dataloader.num_workers': 0}``.
        config: The config file; defaults to the atto shapes config.

    Returns:
        The twelve numbers of :data:`COCO_AP_KEYS` as mmdet's ``CocoMetric`` reports them: AP in
        [0, 1], or -1 where the test scenes hold no object of that size.
    """
    if not osp.isfile(layout_paths(data_dir)['coco_val_ann']):
        raise FileNotFoundError(f'No COCO-layout shapes data in {data_dir!r}; generate it with '
                                f'ensure_shapes_dataset({data_dir!r}, '
                                f'size={SHAPES_DETECTION_SIZE}).')
    options = shapes_data_options(data_dir)
    if max_epochs is not None:
        options.update(schedule_options(max_epochs))
    if batch_size is not None:
        options['train_dataloader.batch_size'] = batch_size
    if init_checkpoint is not None:
        if not osp.isfile(init_checkpoint):
            raise FileNotFoundError(f'Backbone checkpoint {init_checkpoint!r} does not exist.')
        options['model.backbone.init_cfg'] = dict(type='mmconvnextv2.ConvNeXtV2Pretrained',
                                                  checkpoint=init_checkpoint,
                                                  _delete_=True)  # the config's init_cfg is None
    options.update(cfg_options or {})

    no_validation = {'val_cfg': None, 'val_dataloader': None, 'val_evaluator': None}
    build_runner(load_config(config, work_dir, {**options, **no_validation})).train()
    checkpoint = find_latest_checkpoint(work_dir)
    if checkpoint is None:
        raise RuntimeError(f'Training wrote no checkpoint to {work_dir!r}.')
    tester = build_runner(load_config(config, work_dir, {**options, 'load_from': checkpoint}))
    metrics = tester.test()
    return {key: float(metrics[f'coco/{key}']) for key in COCO_AP_KEYS}
