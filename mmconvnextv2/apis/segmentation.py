"""UperNet with ConvNeXt V2-Atto on the bundled shapes: train, then test, through mmseg's runner.

Used by the demo and by ``tools/analysis/train_upernet_shapes.py``; both go through the same
:func:`~mmconvnextv2.apis.load_config` / :func:`~mmconvnextv2.apis.build_runner` as
``tools/train.py``, so what they measure is what the config trains.
"""
import os.path as osp
from dataclasses import dataclass
from typing import Dict, Optional

from .runner import build_runner, load_config

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SHAPES_UPERNET_CONFIG = osp.join(REPO, 'configs/upernet/convnextv2-atto_upernet_shapes.py')
SHAPES_UPERNET_TTA_CONFIG = osp.join(REPO,
                                     'configs/upernet/convnextv2-atto_upernet_shapes_ms-flip.py')
# What mmseg's IoUMetric reports with iou_metrics=['mIoU'].
SEG_METRICS = ('aAcc', 'mIoU', 'mAcc')


@dataclass(frozen=True)
class SegmentationRun:
    """The outcome of :func:`train_upernet_shapes`.

    Attributes:
        metrics: Single-scale test metrics in percent: ``aAcc``, ``mIoU``, ``mAcc``.
        tta_metrics: The same for the multi-scale + flip test, when it was run.
        checkpoint: The last checkpoint of the training.
        log_dir: The training run's log folder.
        max_iters: The number of training iterations.
    """
    metrics: Dict[str, float]
    tta_metrics: Optional[Dict[str, float]]
    checkpoint: str
    log_dir: str
    max_iters: int


def shapes_cfg_options(data_root: str, max_iters: Optional[int] = None,
                       init_checkpoint: Optional[str] = None,
                       num_workers: Optional[int] = None) -> dict:
    """Overrides that point the shapes UperNet config at ``data_root`` and resize its schedule.

    Args:
        data_root: Output folder of :func:`~mmconvnextv2.datasets.ensure_shapes_dataset` (the
            one holding ``ade/``).
        max_iters: Training iterations; the warm-up, the lr decay, validation and the checkpoint
            follow. None keeps the config's schedule.
        init_checkpoint: A checkpoint whose backbone weights initialise the backbone, in any
            layout ``mmconvnextv2.ConvNeXtV2Pretrained`` reads, e.g. a fine-tuned shapes
            classifier, an FCMAE run or an exported encoder. None trains from scratch.
        num_workers: Data loading worker processes; 0 loads in the main process.

    Returns:
        ``key: value`` overrides for :func:`~mmconvnextv2.apis.load_config`.
    """
    options = {}
    for split in ('train', 'val', 'test'):
        options[f'{split}_dataloader.dataset.data_root'] = osp.join(data_root, 'ade')
        if num_workers is not None:
            options[f'{split}_dataloader.num_workers'] = num_workers
            options[f'{split}_dataloader.persistent_workers'] = num_workers > 0
    if max_iters is not None:
        if max_iters < 1:
            raise ValueError(f'max_iters must be >= 1, got {max_iters}')
        # The warm-up takes 5% of the run, as in the config (200 of 4000 iterations).
        warmup = max(1, max_iters // 20)
        options.update({
            'train_cfg.max_iters': max_iters,
            'train_cfg.val_interval': max_iters,
            'default_hooks.checkpoint.interval': max_iters,
            'param_scheduler.0.end': warmup,
            'param_scheduler.1.begin': warmup,
            'param_scheduler.1.end': max(max_iters, warmup + 1),
        })
    if init_checkpoint is not None:
        options['model.backbone.init_cfg'] = dict(type='mmconvnextv2.ConvNeXtV2Pretrained',
                                                  checkpoint=init_checkpoint,
                                                  _delete_=True)  # the config's init_cfg is None
    return options


def train_upernet_shapes(data_root: str, work_dir: str, max_iters: Optional[int] = None,
                         init_checkpoint: Optional[str] = None, tta: bool = False,
                         num_workers: Optional[int] = None,
                         cfg_options: Optional[dict] = None) -> SegmentationRun:
    """Trains UperNet with ConvNeXt V2-Atto on the shapes scenes and tests it on the val split.

    Args:
        data_root: Output folder of :func:`~mmconvnextv2.datasets.ensure_shapes_dataset`.
        work_dir: Where logs and checkpoints go.
        max_iters: Training iterations; None keeps the config's 4000.
        init_checkpoint: Backbone initialisation (see :func:`shapes_cfg_options`); None trains
            from scratch.
        tta: Also test with multi-scale + flip (``*_shapes_ms-flip.py``).
        num_workers: Data loading worker processes; None keeps the config's.
        cfg_options: Further overrides of the training config, applied last. The multi-scale
            test takes only the data options (its model is the TTA wrapper).

    Returns:
        The test metrics, the last checkpoint and the log folder.
    """
    # The test split is the validation split: validating it too would only cost time.
    options = {key: value for key, value in
               shapes_cfg_options(data_root, max_iters, init_checkpoint, num_workers).items()
               if not key.startswith('val_')}
    options.update({'val_cfg': None, 'val_dataloader': None, 'val_evaluator': None})
    options.update(cfg_options or {})
    runner = build_runner(load_config(SHAPES_UPERNET_CONFIG, work_dir, options))
    runner.train()
    checkpoint = osp.join(work_dir, f'iter_{runner.iter}.pth')
    metrics = _seg_metrics(runner.test())
    tta_metrics = None
    if tta:
        tta_options = shapes_cfg_options(data_root, num_workers=num_workers)
        tta_options['load_from'] = checkpoint
        tta_runner = build_runner(load_config(SHAPES_UPERNET_TTA_CONFIG,
                                              osp.join(work_dir, 'ms-flip'), tta_options))
        tta_metrics = _seg_metrics(tta_runner.test())
    return SegmentationRun(metrics=metrics, tta_metrics=tta_metrics, checkpoint=checkpoint,
                           log_dir=runner.log_dir, max_iters=runner.iter)


def _seg_metrics(metrics: Dict[str, float]) -> Dict[str, float]:
    """The IoUMetric entries of a runner's test metrics, as floats."""
    missing = [name for name in SEG_METRICS if name not in metrics]
    if missing:
        raise KeyError(f'The test reported no {missing}; got {sorted(metrics)}. Does the config '
                       "use mmseg's IoUMetric with iou_metrics=['mIoU']?")
    return {name: float(metrics[name]) for name in SEG_METRICS}
