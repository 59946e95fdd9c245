"""UperNet on the bundled shapes scenes: the metrics reported and the schedule.

:func:`~mmconvnextv2.apis.shapes_runs.train_upernet` trains and tests it.
"""

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
