"""Mask R-CNN on the bundled shapes scenes: their size, the COCO numbers reported, the schedule.

:func:`~mmconvnextv2.apis.shapes_runs.train_mask_rcnn` trains and tests it.
"""

# COCO splits AP into small / medium / large at 32² and 96² pixels of the *original* image. In
# scenes of 320 px all three occur (at the classifier's 224 px no shape is large, and COCO would
# report AP_l as -1); the config resizes them to 224 px for the network.
SHAPES_DETECTION_SIZE = 320
COCO_AP_NAMES = ('mAP', 'mAP_50', 'mAP_75', 'mAP_s', 'mAP_m', 'mAP_l')
# The twelve numbers of mmdet's CocoMetric for bbox and segm, without its 'coco/' prefix.
COCO_AP_KEYS = tuple(f'{task}_{name}' for task in ('bbox', 'segm') for name in COCO_AP_NAMES)


def mask_rcnn_schedule(max_epochs: int) -> dict[str, object]:
    """Overrides for ``max_epochs`` of the shapes Mask R-CNN: lr steps at 3/4 and 11/12 of the
    run, one checkpoint at its end.

    Raises:
        ValueError: If ``max_epochs < 1``.
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
