"""The shipped shapes configs as the experiments run them: each task's config builder and
schedules, and the names of the metrics each task's test reports.

Each builder (``*_config``) reads the shipped config by its ``mmconvnextv2::`` name, merges the
caller's ``cfg_options`` as it reads it, and sets the run's data, budget, precision and backbone
initialisation.
"""
import copy
import os.path as osp

from mmengine.config import Config, ConfigDict

from mmconvnextv2.datasets import layout_paths
from mmconvnextv2.engine.optimizers import MMDET_TWO_STAGE_AUTOCAST_MODULES
from mmconvnextv2.utils import load_config, use_amp

FCMAE_CONFIG = 'mmconvnextv2::fcmae/fcmae_convnextv2-atto_shapes.py'
FCMAE_V1STYLE_CONFIG = 'mmconvnextv2::fcmae/fcmae_convnextv2-atto-v1style_shapes.py'
CLASSIFIER_CONFIG = 'mmconvnextv2::convnextv2/convnextv2-atto_fcmae-ft_shapes.py'
PLAIN_CLASSIFIER_CONFIG = 'mmconvnextv2::convnextv2/convnextv2-atto_shapes.py'
MASK_RCNN_CONFIG = 'mmconvnextv2::mask_rcnn/mask-rcnn_convnextv2-atto_fpn_shapes.py'
UPERNET_CONFIG = 'mmconvnextv2::upernet/convnextv2-atto_upernet_shapes.py'
UPERNET_TTA_CONFIG = 'mmconvnextv2::upernet/convnextv2-atto_upernet_shapes_ms-flip.py'

# COCO splits AP into small / medium / large at 32² and 96² pixels of the *original* image. In
# scenes of 320 px all three occur (at the classifier's 224 px no shape is large, and COCO would
# report AP_l as -1); the config resizes them to 224 px for the network.
SHAPES_DETECTION_SIZE = 320
# The test metrics each task reports, as the evaluators name them (without their prefix): top-1
# (%); mmdet's CocoMetric's twelve numbers for bbox and segm; mmseg's IoUMetric (%).
CLASSIFIER_METRICS = ('top1', )
COCO_AP_NAMES = ('mAP', 'mAP_50', 'mAP_75', 'mAP_s', 'mAP_m', 'mAP_l')
COCO_AP_KEYS = tuple(f'{task}_{name}' for task in ('bbox', 'segm') for name in COCO_AP_NAMES)
SEG_METRICS = ('aAcc', 'mIoU', 'mAcc')
# Pipeline steps that crop (mmpretrain's and mmseg's); found by type, never by position.
CROP_TYPES = ('RandomResizedCrop', 'RandomCrop')
# How a run trains: the config's optimiser wrapper (float32), tools/train.py --amp (float16 on
# CUDA, bfloat16 elsewhere), or autocast in the named dtype.
PRECISIONS = ('float32', 'amp', 'float16', 'bfloat16')


def backbone_init(checkpoint: str | None) -> dict | None:
    """The backbone ``init_cfg`` that starts from ``checkpoint``; None (from scratch) for None.

    ``mmconvnextv2.ConvNeXtV2Pretrained`` reads our FCMAE runs and exported encoders, the
    official, timm and HF checkpoints, and refuses a checkpoint of another size.

    Raises:
        FileNotFoundError: If ``checkpoint`` does not exist.
    """
    if checkpoint is None:
        return None
    if not osp.isfile(checkpoint):
        raise FileNotFoundError(f'Backbone checkpoint {checkpoint!r} does not exist.')
    return dict(type='mmconvnextv2.ConvNeXtV2Pretrained', checkpoint=checkpoint)


def without_validation(cfg: Config) -> None:
    """Trains without validation (``tools/train.py --no-validate``); the test parts stay."""
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None


def set_workers(cfg: Config, num_workers: int) -> None:
    """Loads every split's data in ``num_workers`` processes (0: in the main process)."""
    for split in ('train', 'val', 'test'):
        loader = cfg.get(f'{split}_dataloader')
        if loader:
            loader.num_workers = num_workers
            loader.persistent_workers = num_workers > 0


def train_crop(cfg: Config) -> ConfigDict:
    """The crop step of the training pipeline (edit it in place to change the crop).

    Raises:
        ValueError: If the pipeline has no step of :data:`CROP_TYPES`, or several.
    """
    pipeline = cfg.train_dataloader.dataset.pipeline
    crops = [step for step in pipeline if step.type.split('.')[-1] in CROP_TYPES]
    if len(crops) != 1:
        raise ValueError(f'Expected one {" or ".join(CROP_TYPES)} in the training pipeline, '
                         f'found {len(crops)} among {[step.type for step in pipeline]}.')
    return crops[0]


def set_train_size(cfg: Config, size: int) -> None:
    """Trains on ``size``-px images: scenes rendered at that side and cropped to it (FCMAE and
    the classifier), or resized to it (Mask R-CNN's ``RandomResize``).

    Raises:
        ValueError: If the training pipeline has neither a rendered data set nor one
            ``RandomResize`` (UperNet's crops a resized scene: give it no size).
    """
    dataset = cfg.train_dataloader.dataset
    if 'size' in dataset:  # scenes rendered on the fly
        dataset.size = train_crop(cfg).scale = size
        return
    resizes = [step for step in dataset.pipeline if step.type.split('.')[-1] == 'RandomResize']
    if len(resizes) != 1 or any(step.type.split('.')[-1] in CROP_TYPES
                                for step in dataset.pipeline):
        raise ValueError(f'Cannot set the training size of {[s.type for s in dataset.pipeline]}: '
                         'expected rendered scenes, or one RandomResize and no crop.')
    resizes[0].scale = (size, size)


def set_max_epochs(cfg: Config, epochs: int) -> None:
    """Trains an epoch-based config for ``epochs``, stretching schedules that ended at its end.

    A scheduler whose ``end`` was the old last epoch ends at the new one (a cosine one recomputes
    ``T_max`` from ``begin`` and ``end``); validation runs once, at the end.

    Raises:
        ValueError: If ``epochs`` leaves no epoch after a scheduler's ``begin``.
    """
    old = cfg.train_cfg.max_epochs
    for scheduler in cfg.param_scheduler:
        if scheduler.get('end') == old and scheduler.get('begin', 0) >= epochs:
            raise ValueError(f'{epochs} epochs end before the {scheduler.type} of the config '
                             f'begins (epoch {scheduler.begin}); train at least '
                             f'{scheduler.begin + 1} epochs.')
    cfg.train_cfg.max_epochs = epochs
    for scheduler in cfg.param_scheduler:
        if scheduler.get('end') == old:
            scheduler.end = epochs
            scheduler.pop('T_max', None)
    if cfg.get('val_cfg') is not None:
        cfg.train_cfg.val_interval = epochs


def iteration_schedule(max_iters: int) -> dict[str, object]:
    """Overrides that train an epoch-based config for ``max_iters`` iterations: a linear warm-up
    from 1 % over the first tenth (none below 10 iterations), then the config's full lr, which
    stresses a run more than a decaying lr would; one checkpoint at the end.

    Raises:
        ValueError: If ``max_iters < 1``.
    """
    if max_iters < 1:
        raise ValueError(f'max_iters must be >= 1, got {max_iters}')
    warmup = [dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0,
                   end=max_iters // 10)] if max_iters >= 10 else None
    return {
        'train_cfg': dict(_delete_=True, by_epoch=False, max_iters=max_iters),
        'param_scheduler': warmup,
        'log_processor.by_epoch': False,
        'default_hooks.checkpoint.by_epoch': False,
        'default_hooks.checkpoint.interval': max_iters,
    }


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


def set_precision(cfg: Config, precision: str) -> None:
    """Trains ``cfg`` in ``precision``, one of :data:`PRECISIONS`.

    Raises:
        ValueError: If ``precision`` is another.
    """
    if precision not in PRECISIONS:
        raise ValueError(f'precision must be one of {PRECISIONS}, got {precision!r}')
    if precision != 'float32':
        use_amp(cfg, None if precision == 'amp' else precision)


def _epoch_schedule(cfg: Config, max_epochs: int | None, max_iters: int | None) -> None:
    """``max_epochs`` (:func:`set_max_epochs`) or ``max_iters`` (:func:`iteration_schedule`) of
    training, one checkpoint at the end; the config's schedule when both are None."""
    if max_epochs is not None and max_iters is not None:
        raise ValueError(f'Give max_epochs or max_iters, not both (got {max_epochs} and '
                         f'{max_iters}).')
    if max_epochs is not None:
        set_max_epochs(cfg, max_epochs)
        cfg.default_hooks.checkpoint.interval = max_epochs
    elif max_iters is not None:
        cfg.merge_from_dict(iteration_schedule(max_iters))


def _shapes_config(config: str, work_dir: str, cfg_options: dict | None,
                   num_workers: int | None, batch_size: int | None, img_size: int | None,
                   precision: str) -> Config:
    """``config`` with ``cfg_options`` in ``work_dir``; its loaders' workers, batch, training
    size and precision set."""
    # mmengine's merge pops ``_delete_`` from the options: keep the caller's intact for reuse.
    cfg = load_config(config, work_dir, copy.deepcopy(cfg_options))
    if num_workers is not None:
        set_workers(cfg, num_workers)
    if batch_size is not None:
        cfg.train_dataloader.batch_size = batch_size
    if img_size is not None:
        set_train_size(cfg, img_size)
    set_precision(cfg, precision)
    return cfg


def fcmae_config(work_dir: str, max_epochs: int | None = None, max_iters: int | None = None,
                 num_train: int | None = None, batch_size: int | None = None,
                 num_workers: int | None = None, img_size: int | None = None,
                 precision: str = 'float32', config: str = FCMAE_CONFIG,
                 cfg_options: dict | None = None) -> Config:
    """FCMAE pre-training on the unlabelled pool of scenes rendered on the fly.

    Args:
        work_dir: Where checkpoints and logs go.
        max_epochs: Epochs over the pool; the config's when None.
        max_iters: Iterations instead (:func:`iteration_schedule`).
        num_train: Pool scenes per epoch (the first of the ``'pool'`` split); the config's when
            None.
        batch_size: Training batch; the config's when None.
        num_workers: Data loading processes; the config's when None.
        img_size: Side of the scenes and crops (:func:`set_train_size`); the config's when None.
        precision: One of :data:`PRECISIONS`.
        config: The V2 config, or :data:`FCMAE_V1STYLE_CONFIG`.
        cfg_options: Overrides merged into the config as it is read.
    """
    cfg = _shapes_config(config, work_dir, cfg_options, num_workers, batch_size, img_size,
                         precision)
    if num_train is not None:
        cfg.train_dataloader.dataset.num_scenes = num_train
    _epoch_schedule(cfg, max_epochs, max_iters)
    return cfg


def classifier_config(work_dir: str, init_checkpoint: str | None = None,
                      max_epochs: int | None = None, max_iters: int | None = None,
                      num_train: int | None = None, num_val: int | None = None,
                      batch_size: int | None = None, num_workers: int | None = None,
                      img_size: int | None = None, precision: str = 'float32',
                      config: str = CLASSIFIER_CONFIG, cfg_options: dict | None = None) -> Config:
    """Fine-tuning (or training from scratch) of the shapes classifier.

    Args:
        work_dir: Where checkpoints and logs go.
        init_checkpoint: The backbone's start (:func:`backbone_init`); None trains from scratch.
        max_epochs: Training epochs; the config's when None.
        max_iters: Iterations instead (:func:`iteration_schedule`).
        num_train: Labelled training scenes (the first of the ``'train'`` split).
        num_val: Test scenes (the first of the ``'val'`` split).
        batch_size: Training batch; the config's when None.
        num_workers: Data loading processes; the config's when None.
        img_size: Side of the training scenes and crops (:func:`set_train_size`); the test
            scenes keep the config's.
        precision: One of :data:`PRECISIONS`.
        config: The recipe; the paper's fine-tuning recipe by default.
        cfg_options: Overrides merged into the config as it is read.
    """
    cfg = _shapes_config(config, work_dir, cfg_options, num_workers, batch_size, img_size,
                         precision)
    if num_train is not None:
        cfg.train_dataloader.dataset.num_scenes = num_train
    if num_val is not None:
        cfg.val_dataloader.dataset.num_scenes = cfg.test_dataloader.dataset.num_scenes = num_val
    _epoch_schedule(cfg, max_epochs, max_iters)
    cfg.model.backbone.init_cfg = backbone_init(init_checkpoint)
    return cfg


def _data_root_options(data_root: str) -> dict[str, object]:
    """Overrides that point every split's data set at ``data_root``, read as it is
    (``scenes=None``): it holds the run's scenes, generated beforehand, not the config's."""
    options = {}
    for split in ('train', 'val', 'test'):
        options[f'{split}_dataloader.dataset.data_root'] = data_root
        options[f'{split}_dataloader.dataset.scenes'] = None
    return options


def mask_rcnn_config(data_dir: str, work_dir: str, init_checkpoint: str | None = None,
                     max_epochs: int | None = None, max_iters: int | None = None,
                     batch_size: int | None = None, num_workers: int | None = None,
                     img_size: int | None = None, precision: str = 'float32',
                     config: str = MASK_RCNN_CONFIG, cfg_options: dict | None = None) -> Config:
    """Mask R-CNN on the COCO layout of the shapes scenes in ``data_dir``.

    Args:
        data_dir: The shapes data, generated with ``ensure_shapes_dataset(data_dir,
            size=SHAPES_DETECTION_SIZE)``.
        work_dir: Where checkpoints and logs go.
        init_checkpoint: The backbone's start (:func:`backbone_init`); None trains from scratch.
        max_epochs: Training epochs, the lr steps proportional; the config's 12 when None.
        max_iters: Iterations instead (:func:`iteration_schedule`).
        batch_size: Training batch; the config's 8 when None.
        num_workers: Data loading processes; the config's when None.
        img_size: Side the training scenes are resized to; the config's when None.
        precision: One of :data:`PRECISIONS`. Under ``mmconvnextv2.AutocastOptimWrapper`` the
            convolutions and linear layers autocast, mmcv's NMS and RoIAlign (no bfloat16
            kernels) between them not.
        config: The config; the atto shapes config by default.
        cfg_options: Overrides merged into the config as it is read, after the data roots.
    """
    paths = layout_paths(data_dir)
    if not osp.isfile(paths['coco_val_ann']):
        raise FileNotFoundError(f'No COCO-layout shapes data in {data_dir!r}; generate it with '
                                f'ensure_shapes_dataset({data_dir!r}, '
                                f'size={SHAPES_DETECTION_SIZE}).')
    if max_epochs is not None and max_iters is not None:
        raise ValueError(f'Give max_epochs or max_iters, not both (got {max_epochs} and '
                         f'{max_iters}).')
    options = {**_data_root_options(paths['coco']),
               'val_evaluator.ann_file': paths['coco_val_ann'],
               'test_evaluator.ann_file': paths['coco_val_ann']}
    if max_epochs is not None:
        options.update(mask_rcnn_schedule(max_epochs))
    if max_iters is not None:
        options.update(iteration_schedule(max_iters))
    cfg = _shapes_config(config, work_dir, {**options, **(cfg_options or {})}, num_workers,
                         batch_size, img_size, precision)
    if cfg.optim_wrapper.type == 'mmconvnextv2.AutocastOptimWrapper':
        cfg.optim_wrapper.autocast_modules = list(MMDET_TWO_STAGE_AUTOCAST_MODULES)
    cfg.model.backbone.init_cfg = backbone_init(init_checkpoint)
    return cfg


def upernet_config(data_dir: str, work_dir: str, init_checkpoint: str | None = None,
                   max_iters: int | None = None, batch_size: int | None = None,
                   num_workers: int | None = None, precision: str = 'float32',
                   config: str = UPERNET_CONFIG, cfg_options: dict | None = None) -> Config:
    """UperNet on the ADE20K layout of the shapes scenes in ``data_dir``.

    Args:
        data_dir: The shapes data of :func:`~mmconvnextv2.datasets.ensure_shapes_dataset`.
        work_dir: Where checkpoints and logs go.
        init_checkpoint: The backbone's start (:func:`backbone_init`); None trains from scratch.
        max_iters: Training iterations, warm-up and decay following; the config's when None.
        batch_size: Training batch; the config's when None.
        num_workers: Data loading processes; the config's when None.
        precision: One of :data:`PRECISIONS`.
        config: The config, or :data:`UPERNET_TTA_CONFIG` to test with multi-scale + flip.
        cfg_options: Overrides merged into the config as it is read, after the data roots.
    """
    ade = layout_paths(data_dir)['ade']
    if not osp.isdir(ade):
        raise FileNotFoundError(f'No ADE20K-layout shapes data in {data_dir!r} (no {ade}); '
                                f'generate it with ensure_shapes_dataset({data_dir!r}).')
    options = _data_root_options(ade)
    if max_iters is not None:
        options.update(upernet_schedule(max_iters))
    cfg = _shapes_config(config, work_dir, {**options, **(cfg_options or {})}, num_workers,
                         batch_size, None, precision)
    if init_checkpoint is not None:
        if 'backbone' not in cfg.model:
            raise ValueError(f'{config} wraps its model for testing (no model.backbone): train '
                             'with UPERNET_CONFIG and test the checkpoint with this one.')
        cfg.model.backbone.init_cfg = backbone_init(init_checkpoint)
    return cfg
