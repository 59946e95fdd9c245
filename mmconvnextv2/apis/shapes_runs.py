"""Training runs on the bundled shapes, one small API for every task: FCMAE, classification,
Mask R-CNN and UperNet.

Each task has a config builder (``*_config``: the shipped config by its ``mmconvnextv2::`` name,
with the run's data, budget and backbone initialisation) and a function that trains it without
validation, as ``tools/train.py --no-validate`` would, then tests the last checkpoint in a fresh
runner, as ``tools/test.py`` does, and returns a :class:`RunResult`. The same small helpers serve
all of them, the demo and the tools: :func:`backbone_init`, :func:`without_validation`,
:func:`train_crop`, :func:`last_checkpoint`, :func:`train` and :func:`evaluate`.
"""
import copy
import math
import os.path as osp
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from mmengine.config import Config, ConfigDict
from mmengine.registry import MODELS, DefaultScope
from mmengine.runner import Runner, find_latest_checkpoint

from mmconvnextv2.datasets import ShapesClsDataset, layout_paths
from mmconvnextv2.utils.checkpoint import load_source

from .detection import COCO_AP_KEYS, SHAPES_DETECTION_SIZE, mask_rcnn_schedule
from .runner import build_runner, load_config, set_max_epochs
from .segmentation import SEG_METRICS, upernet_schedule

FCMAE_CONFIG = 'mmconvnextv2::fcmae/fcmae_convnextv2-atto_shapes.py'
FCMAE_V1STYLE_CONFIG = 'mmconvnextv2::fcmae/fcmae_convnextv2-atto-v1style_shapes.py'
CLASSIFIER_CONFIG = 'mmconvnextv2::convnextv2/convnextv2-atto_fcmae-ft_shapes.py'
PLAIN_CLASSIFIER_CONFIG = 'mmconvnextv2::convnextv2/convnextv2-atto_shapes.py'
MASK_RCNN_CONFIG = 'mmconvnextv2::mask_rcnn/mask-rcnn_convnextv2-atto_fpn_shapes.py'
UPERNET_CONFIG = 'mmconvnextv2::upernet/convnextv2-atto_upernet_shapes.py'
UPERNET_TTA_CONFIG = 'mmconvnextv2::upernet/convnextv2-atto_upernet_shapes_ms-flip.py'
# Pipeline steps that crop (mmpretrain's and mmseg's); found by type, never by position.
CROP_TYPES = ('RandomResizedCrop', 'RandomCrop')
# The test metrics each task reports, as the evaluators name them (without their prefix).
CLASSIFIER_METRICS = ('top1', )
# The first and the last tenth of a run's iterations give its start and end loss.
LOSS_WINDOW_FRACTION = 0.1


@dataclass(frozen=True)
class RunResult:
    """The outcome of one training run.

    Attributes:
        metrics: Test metrics as the task's evaluator reports them (top-1 and mIoU in percent,
            COCO APs in [0, 1] or -1) and, for FCMAE, losses.
        checkpoint: The last checkpoint of the training.
        work_dir: Where the run wrote its checkpoints and logs.
        log_dir: The training run's log folder (``vis_data/scalars.json`` holds its losses).
        iters: The number of training iterations.
    """
    metrics: dict[str, float]
    checkpoint: str
    work_dir: str
    log_dir: str
    iters: int


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


def last_checkpoint(work_dir: str) -> str:
    """The checkpoint a run in ``work_dir`` saved last (its ``last_checkpoint`` file).

    Raises:
        FileNotFoundError: If no run saved a checkpoint there.
    """
    checkpoint = find_latest_checkpoint(work_dir)
    if checkpoint is None:
        raise FileNotFoundError(f'No checkpoint was saved in {work_dir!r} (no last_checkpoint '
                                'file): train there first, or pass the checkpoint itself.')
    return checkpoint


def train(cfg: Config) -> Runner:
    """Builds the runner of ``cfg`` without validation and trains it."""
    without_validation(cfg)
    runner = build_runner(cfg)
    runner.train()
    return runner


def evaluate(cfg: Config, checkpoint: str) -> dict[str, float]:
    """``tools/test.py``: a fresh runner of ``cfg`` loads ``checkpoint`` and tests it.

    Returns:
        The evaluators' metrics, keyed without their prefix (``accuracy/top1`` -> ``top1``).

    Raises:
        FileNotFoundError: If ``checkpoint`` does not exist.
    """
    if not osp.isfile(checkpoint):
        raise FileNotFoundError(f'Checkpoint {checkpoint!r} does not exist.')
    cfg = copy.deepcopy(cfg)
    cfg.load_from = checkpoint
    return {key.split('/')[-1]: float(value) for key, value in build_runner(cfg).test().items()}


def pick_metrics(metrics: dict[str, float], names: Sequence[str]) -> dict[str, float]:
    """The entries ``names`` of a test's metrics, in that order.

    Raises:
        KeyError: If the test reported some of them not (a config with another evaluator).
    """
    missing = [name for name in names if name not in metrics]
    if missing:
        raise KeyError(f'The test reported no {missing}; got {sorted(metrics)}. Does the config '
                       "keep the task's evaluator?")
    return {name: metrics[name] for name in names}


def train_and_test(cfg: Config, metric_names: Sequence[str]) -> RunResult:
    """Trains ``cfg`` (:func:`train`), then tests its last checkpoint (:func:`evaluate`)."""
    runner = train(cfg)
    checkpoint = last_checkpoint(cfg.work_dir)
    metrics = pick_metrics(evaluate(cfg, checkpoint), metric_names)
    return RunResult(metrics, checkpoint, cfg.work_dir, runner.log_dir, runner.iter)


def _shapes_config(config: str, work_dir: str, cfg_options: dict | None,
                   num_workers: int | None, batch_size: int | None) -> Config:
    """``config`` with ``cfg_options`` in ``work_dir``, its loaders' workers and batch set."""
    # mmengine's merge pops ``_delete_`` from the options: keep the caller's intact for reuse.
    cfg = load_config(config, work_dir, copy.deepcopy(cfg_options))
    if num_workers is not None:
        set_workers(cfg, num_workers)
    if batch_size is not None:
        cfg.train_dataloader.batch_size = batch_size
    return cfg


def _set_epochs(cfg: Config, max_epochs: int | None) -> None:
    """``max_epochs`` of training (:func:`set_max_epochs`), one checkpoint at the end."""
    if max_epochs is not None:
        set_max_epochs(cfg, max_epochs)
        cfg.default_hooks.checkpoint.interval = max_epochs


def fcmae_config(work_dir: str, max_epochs: int | None = None, num_scenes: int | None = None,
                 batch_size: int | None = None, num_workers: int | None = None,
                 config: str = FCMAE_CONFIG, cfg_options: dict | None = None) -> Config:
    """FCMAE pre-training on the unlabelled pool of scenes rendered on the fly.

    Args:
        work_dir: Where checkpoints and logs go.
        max_epochs: Epochs over the pool; the config's when None.
        num_scenes: Pool scenes per epoch (the first of the ``'pool'`` split); the config's when
            None.
        batch_size: Training batch; the config's when None.
        num_workers: Data loading processes; the config's when None.
        config: The V2 config, or :data:`FCMAE_V1STYLE_CONFIG`.
        cfg_options: Overrides merged into the config as it is read; the arguments above
            apply after them.
    """
    cfg = _shapes_config(config, work_dir, cfg_options, num_workers, batch_size)
    if num_scenes is not None:
        cfg.train_dataloader.dataset.num_scenes = num_scenes
    _set_epochs(cfg, max_epochs)
    return cfg


def classifier_config(work_dir: str, init_checkpoint: str | None = None,
                      max_epochs: int | None = None, num_train: int | None = None,
                      num_val: int | None = None, batch_size: int | None = None,
                      num_workers: int | None = None, config: str = CLASSIFIER_CONFIG,
                      cfg_options: dict | None = None) -> Config:
    """Fine-tuning (or training from scratch) of the shapes classifier.

    Args:
        work_dir: Where checkpoints and logs go.
        init_checkpoint: The backbone's start (:func:`backbone_init`); None trains from scratch.
        max_epochs: Training epochs; the config's when None.
        num_train: Labelled training scenes (the first of the ``'train'`` split).
        num_val: Test scenes (the first of the ``'val'`` split).
        batch_size: Training batch; the config's when None.
        num_workers: Data loading processes; the config's when None.
        config: The recipe; the paper's fine-tuning recipe by default.
        cfg_options: Overrides merged into the config as it is read; the arguments above
            apply after them.
    """
    cfg = _shapes_config(config, work_dir, cfg_options, num_workers, batch_size)
    if num_train is not None:
        cfg.train_dataloader.dataset.num_scenes = num_train
    if num_val is not None:
        cfg.val_dataloader.dataset.num_scenes = cfg.test_dataloader.dataset.num_scenes = num_val
    _set_epochs(cfg, max_epochs)
    cfg.model.backbone.init_cfg = backbone_init(init_checkpoint)
    return cfg


def _data_root_options(data_root: str) -> dict[str, object]:
    """Overrides that point every split's data set at ``data_root``."""
    return {f'{split}_dataloader.dataset.data_root': data_root
            for split in ('train', 'val', 'test')}


def mask_rcnn_config(data_dir: str, work_dir: str, init_checkpoint: str | None = None,
                     max_epochs: int | None = None, batch_size: int | None = None,
                     num_workers: int | None = None, config: str = MASK_RCNN_CONFIG,
                     cfg_options: dict | None = None) -> Config:
    """Mask R-CNN on the COCO layout of the shapes scenes in ``data_dir``.

    Args:
        data_dir: The shapes data, generated with ``ensure_shapes_dataset(data_dir,
            size=SHAPES_DETECTION_SIZE)``.
        work_dir: Where checkpoints and logs go.
        init_checkpoint: The backbone's start (:func:`backbone_init`); None trains from scratch.
        max_epochs: Training epochs, the lr steps proportional; the config's 12 when None.
        batch_size: Training batch; the config's 8 when None.
        num_workers: Data loading processes; the config's when None.
        config: The config; the atto shapes config by default.
        cfg_options: Overrides merged into the config as it is read, after the data roots;
            the arguments above apply after them.
    """
    paths = layout_paths(data_dir)
    if not osp.isfile(paths['coco_val_ann']):
        raise FileNotFoundError(f'No COCO-layout shapes data in {data_dir!r}; generate it with '
                                f'ensure_shapes_dataset({data_dir!r}, '
                                f'size={SHAPES_DETECTION_SIZE}).')
    options = {**_data_root_options(paths['coco']),
               'val_evaluator.ann_file': paths['coco_val_ann'],
               'test_evaluator.ann_file': paths['coco_val_ann']}
    if max_epochs is not None:
        options.update(mask_rcnn_schedule(max_epochs))
    cfg = _shapes_config(config, work_dir, {**options, **(cfg_options or {})}, num_workers,
                         batch_size)
    cfg.model.backbone.init_cfg = backbone_init(init_checkpoint)
    return cfg


def upernet_config(data_dir: str, work_dir: str, init_checkpoint: str | None = None,
                   max_iters: int | None = None, batch_size: int | None = None,
                   num_workers: int | None = None, config: str = UPERNET_CONFIG,
                   cfg_options: dict | None = None) -> Config:
    """UperNet on the ADE20K layout of the shapes scenes in ``data_dir``.

    Args:
        data_dir: The shapes data of :func:`~mmconvnextv2.datasets.ensure_shapes_dataset`.
        work_dir: Where checkpoints and logs go.
        init_checkpoint: The backbone's start (:func:`backbone_init`); None trains from scratch.
        max_iters: Training iterations, warm-up and decay following; the config's when None.
        batch_size: Training batch; the config's when None.
        num_workers: Data loading processes; the config's when None.
        config: The config, or :data:`UPERNET_TTA_CONFIG` to test with multi-scale + flip.
        cfg_options: Overrides merged into the config as it is read, after the data roots;
            the arguments above apply after them.
    """
    ade = layout_paths(data_dir)['ade']
    if not osp.isdir(ade):
        raise FileNotFoundError(f'No ADE20K-layout shapes data in {data_dir!r} (no {ade}); '
                                f'generate it with ensure_shapes_dataset({data_dir!r}).')
    options = _data_root_options(ade)
    if max_iters is not None:
        options.update(upernet_schedule(max_iters))
    cfg = _shapes_config(config, work_dir, {**options, **(cfg_options or {})}, num_workers,
                         batch_size)
    if init_checkpoint is not None:
        if 'backbone' not in cfg.model:
            raise ValueError(f'{config} wraps its model for testing (no model.backbone): train '
                             'with UPERNET_CONFIG and test the checkpoint with this one.')
        cfg.model.backbone.init_cfg = backbone_init(init_checkpoint)
    return cfg


def loss_ends(losses: Sequence[float]) -> tuple[float, float]:
    """The mean loss of the first and of the last tenth of a run's iterations (at least one)."""
    if not losses:
        raise ValueError('The run logged no loss.')
    window = max(1, math.ceil(len(losses) * LOSS_WINDOW_FRACTION))
    return sum(losses[:window]) / window, sum(losses[-window:]) / window


def val_scene_images(num_scenes: int, size: int) -> torch.Tensor:
    """The first ``num_scenes`` validation scenes as a (N, 3, size, size) uint8 BGR batch."""
    dataset = ShapesClsDataset(num_scenes, 'val', size=size, with_label=False, pipeline=[])
    return torch.stack([torch.from_numpy(dataset.get_data_info(i)['img']).permute(2, 0, 1)
                        for i in range(num_scenes)])


@torch.no_grad()
def fcmae_val_loss(model: torch.nn.Module, raw_images: torch.Tensor,
                   seed: int = 0) -> dict[str, float]:
    """FCMAE's loss on held-out images under seeded masks, beside a constant prediction's.

    Args:
        model: An :class:`~mmconvnextv2.models.FCMAE`.
        raw_images: (N, 3, H, W) uint8 BGR images (:func:`val_scene_images`).
        seed: Seed of the masks: the same images and seed give every model the same masks.

    Returns:
        ``val_loss``, and ``val_loss_patch_mean``: the loss of predicting each removed patch's
        own mean (zero in the normalised target), the loss a model that learned nothing gets.
    """
    was_training = model.training
    model.eval()
    images = model.data_preprocessor(dict(inputs=raw_images.float(), data_samples=None))['inputs']
    mask = model.draw_mask(images, generator=torch.Generator().manual_seed(seed))
    pred = model.reconstruct(images, mask)
    model.train(was_training)
    return {'val_loss': float(model.head.loss(pred, images, mask)),
            'val_loss_patch_mean': float(model.head.loss(torch.zeros_like(pred), images, mask))}


def load_fcmae(config: str, checkpoint: str) -> torch.nn.Module:
    """The FCMAE model of ``config`` with every weight of ``checkpoint`` (encoder and decoder).

    Raises:
        RuntimeError: If the checkpoint lacks weights of the model (an exported encoder has no
            decoder: it cannot reconstruct).
    """
    cfg = load_config(config)
    cfg.model.setdefault('data_preprocessor', cfg.get('data_preprocessor'))
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope', 'mmpretrain')):
        model = MODELS.build(cfg.model)
    model.load_state_dict(load_source(checkpoint), strict=True)
    return model.eval()


def pretrain_fcmae(work_dir: str, val_scenes: int = 32, **options: object) -> RunResult:
    """Trains FCMAE (:func:`fcmae_config`) and measures its loss.

    Args:
        work_dir: Where checkpoints and logs go.
        val_scenes: Validation scenes of the held-out loss (:func:`fcmae_val_loss`), at the
            training crop's side.
        **options: Further arguments of :func:`fcmae_config`.

    Returns:
        Metrics ``loss_first`` and ``loss_last`` (:func:`loss_ends`), ``val_loss`` and
        ``val_loss_patch_mean``.
    """
    cfg = fcmae_config(work_dir, **options)
    runner = train(cfg)
    first, last = loss_ends(runner.message_hub.get_scalar('train/loss').data[0].tolist())
    images = val_scene_images(val_scenes, train_crop(cfg).scale)
    metrics = {'loss_first': first, 'loss_last': last, **fcmae_val_loss(runner.model, images)}
    return RunResult(metrics, last_checkpoint(work_dir), work_dir, runner.log_dir, runner.iter)


def train_classifier(work_dir: str, **options: object) -> RunResult:
    """Trains the shapes classifier (:func:`classifier_config`) and tests it: ``top1`` (%)."""
    return train_and_test(classifier_config(work_dir, **options), CLASSIFIER_METRICS)


def train_mask_rcnn(data_dir: str, work_dir: str, **options: object) -> RunResult:
    """Trains Mask R-CNN (:func:`mask_rcnn_config`) and tests it: the twelve COCO numbers of
    :data:`~mmconvnextv2.apis.detection.COCO_AP_KEYS`, AP in [0, 1] or -1 where the test scenes
    hold no object of that size."""
    return train_and_test(mask_rcnn_config(data_dir, work_dir, **options), COCO_AP_KEYS)


def train_upernet(data_dir: str, work_dir: str, tta: bool = False,
                  **options: object) -> RunResult:
    """Trains UperNet (:func:`upernet_config`) and tests it: ``aAcc``, ``mIoU``, ``mAcc`` (%).

    Args:
        data_dir: The shapes data.
        work_dir: Where checkpoints and logs go.
        tta: Also test with multi-scale + flip: ``tta_aAcc``, ``tta_mIoU``, ``tta_mAcc`` (with
            the data options only: the test's model is the TTA wrapper).
        **options: Further arguments of :func:`upernet_config`.
    """
    run = train_and_test(upernet_config(data_dir, work_dir, **options), SEG_METRICS)
    if not tta:
        return run
    tta_metrics = evaluate_upernet(data_dir, run.checkpoint, osp.join(work_dir, 'ms-flip'),
                                   tta=True, num_workers=options.get('num_workers'))
    return RunResult({**run.metrics, **{f'tta_{k}': v for k, v in tta_metrics.items()}},
                     run.checkpoint, run.work_dir, run.log_dir, run.iters)


def evaluate_classifier(checkpoint: str, work_dir: str, **options: object) -> dict[str, float]:
    """``top1`` (%) of a classifier checkpoint (``options``: of :func:`classifier_config`)."""
    return pick_metrics(evaluate(classifier_config(work_dir, **options), checkpoint),
                        CLASSIFIER_METRICS)


def evaluate_mask_rcnn(data_dir: str, checkpoint: str, work_dir: str,
                       **options: object) -> dict[str, float]:
    """The twelve COCO numbers of a Mask R-CNN checkpoint (``options``: of
    :func:`mask_rcnn_config`)."""
    return pick_metrics(evaluate(mask_rcnn_config(data_dir, work_dir, **options), checkpoint),
                        COCO_AP_KEYS)


def evaluate_upernet(data_dir: str, checkpoint: str, work_dir: str, tta: bool = False,
                     **options: object) -> dict[str, float]:
    """``aAcc``, ``mIoU``, ``mAcc`` (%) of an UperNet checkpoint, single-scale or with
    multi-scale + flip (``options``: of :func:`upernet_config`)."""
    config = UPERNET_TTA_CONFIG if tta else UPERNET_CONFIG
    return pick_metrics(evaluate(upernet_config(data_dir, work_dir, config=config, **options),
                                 checkpoint), SEG_METRICS)
