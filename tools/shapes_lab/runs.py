"""Training runs on the bundled shapes, one small API for every task: FCMAE, classification,
Mask R-CNN and UperNet.

Each task's ``train_*`` trains its config (:mod:`shapes_lab.configs`) without validation, as
``tools/train.py --no-validate`` would, then tests the last checkpoint in a fresh runner, as
``tools/test.py`` does, and returns a :class:`RunResult`; ``evaluate_*`` tests a checkpoint.
"""
import copy
import math
import os.path as osp
from collections.abc import Sequence
from dataclasses import dataclass, replace

from mmengine.config import Config
from mmengine.runner import Runner, find_latest_checkpoint

from mmconvnextv2.utils import build_runner

from .configs import (CLASSIFIER_METRICS, COCO_AP_KEYS, SEG_METRICS, UPERNET_CONFIG,
                      UPERNET_TTA_CONFIG, classifier_config, fcmae_config, mask_rcnn_config,
                      train_crop, upernet_config, without_validation)
from .fcmae import fcmae_val_loss, val_scene_images

# The first and the last tenth of a run's iterations give its start and end loss.
LOSS_WINDOW_FRACTION = 0.1


@dataclass(frozen=True)
class RunResult:
    """The outcome of one training run.

    Attributes:
        metrics: Test metrics as the task's evaluator reports them (top-1 and mIoU in percent,
            COCO APs in [0, 1] or -1) and, for FCMAE, losses; empty when the run was not tested.
        checkpoint: The last checkpoint of the training.
        work_dir: Where the run wrote its checkpoints and logs.
        log_dir: The training run's log folder (``vis_data/scalars.json`` holds its losses).
        iters: The number of training iterations.
        losses: Every iteration's value of each loss the run logged (``loss`` and its terms).
        params_finite: Whether every trained parameter is finite.
        loss_scale: The dynamic loss scale at the end (float16 with ``AmpOptimWrapper``), or
            None.
        optim_wrapper: The optimiser wrapper it trained with and its compute dtype, e.g.
            ``'AutocastOptimWrapper bfloat16'``.
    """
    metrics: dict[str, float]
    checkpoint: str
    work_dir: str
    log_dir: str
    iters: int
    losses: dict[str, list[float]]
    params_finite: bool
    loss_scale: float | None
    optim_wrapper: str


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


def logged_losses(runner: Runner) -> dict[str, list[float]]:
    """Every iteration's value of each ``train/loss*`` scalar the runner logged."""
    return {key[len('train/'):]: [float(value) for value in buffer.data[0]]
            for key, buffer in runner.message_hub.log_scalars.items()
            if key.startswith('train/loss')}


def run_result(runner: Runner, metrics: dict[str, float]) -> RunResult:
    """The :class:`RunResult` of a trained ``runner`` and its test's ``metrics``."""
    wrapper = runner.optim_wrapper
    scaler = getattr(wrapper, 'loss_scaler', None)
    # Autocast wrappers name their dtype; the plain one computes in float32.
    dtype = str(getattr(wrapper, 'cast_dtype', None) or 'float32').replace('torch.', '')
    return RunResult(metrics, last_checkpoint(runner.work_dir), runner.work_dir, runner.log_dir,
                     runner.iter, logged_losses(runner),
                     all(bool(param.isfinite().all()) for param in runner.model.parameters()),
                     None if scaler is None else float(scaler.get_scale()),
                     f'{type(wrapper).__name__} {dtype}')


def train_and_test(cfg: Config, metric_names: Sequence[str], test: bool = True) -> RunResult:
    """Trains ``cfg`` (:func:`train`), then tests its last checkpoint (:func:`evaluate`) unless
    ``test`` is False."""
    runner = train(cfg)
    metrics = (pick_metrics(evaluate(cfg, last_checkpoint(cfg.work_dir)), metric_names)
               if test else {})
    return run_result(runner, metrics)


def loss_ends(losses: Sequence[float]) -> tuple[float, float]:
    """The mean loss of the first and of the last tenth of a run's iterations (at least one)."""
    if not losses:
        raise ValueError('The run logged no loss.')
    window = max(1, math.ceil(len(losses) * LOSS_WINDOW_FRACTION))
    return sum(losses[:window]) / window, sum(losses[-window:]) / window


def pretrain_fcmae(work_dir: str, val_scenes: int = 32, **options: object) -> RunResult:
    """Trains FCMAE (:func:`~shapes_lab.configs.fcmae_config`) and measures its loss.

    Args:
        work_dir: Where checkpoints and logs go.
        val_scenes: Validation scenes of the held-out loss (:func:`~shapes_lab.fcmae.
            fcmae_val_loss`), at the training crop's side; 0 measures none.
        **options: Further arguments of :func:`~shapes_lab.configs.fcmae_config`.

    Returns:
        Metrics ``loss_first`` and ``loss_last`` (:func:`loss_ends`) and, with ``val_scenes``,
        ``val_loss`` and ``val_loss_patch_mean``.
    """
    cfg = fcmae_config(work_dir, **options)
    runner = train(cfg)
    first, last = loss_ends(logged_losses(runner).get('loss', []))
    metrics = {'loss_first': first, 'loss_last': last}
    if val_scenes:
        images = val_scene_images(val_scenes, train_crop(cfg).scale)
        metrics.update(fcmae_val_loss(runner.model, images))
    return run_result(runner, metrics)


def train_classifier(work_dir: str, test: bool = True, **options: object) -> RunResult:
    """Trains the shapes classifier (:func:`~shapes_lab.configs.classifier_config`) and, with
    ``test``, tests it: ``top1`` (%)."""
    return train_and_test(classifier_config(work_dir, **options), CLASSIFIER_METRICS, test)


def train_mask_rcnn(data_dir: str, work_dir: str, test: bool = True,
                    **options: object) -> RunResult:
    """Trains Mask R-CNN (:func:`~shapes_lab.configs.mask_rcnn_config`) and, with ``test``,
    tests it: the twelve COCO numbers of :data:`~shapes_lab.configs.COCO_AP_KEYS`, AP in
    [0, 1] or -1 where the test scenes hold no object of that size."""
    return train_and_test(mask_rcnn_config(data_dir, work_dir, **options), COCO_AP_KEYS, test)


def train_upernet(data_dir: str, work_dir: str, tta: bool = False, test: bool = True,
                  **options: object) -> RunResult:
    """Trains UperNet (:func:`~shapes_lab.configs.upernet_config`) and, with ``test``, tests
    it: ``aAcc``, ``mIoU``, ``mAcc`` (%).

    Args:
        data_dir: The shapes data.
        work_dir: Where checkpoints and logs go.
        tta: Also test with multi-scale + flip: ``tta_aAcc``, ``tta_mIoU``, ``tta_mAcc`` (with
            the data options only: the test's model is the TTA wrapper).
        test: Test at all.
        **options: Further arguments of :func:`~shapes_lab.configs.upernet_config`.
    """
    run = train_and_test(upernet_config(data_dir, work_dir, **options), SEG_METRICS, test)
    if not (tta and test):
        return run
    tta_metrics = evaluate_upernet(data_dir, run.checkpoint, osp.join(work_dir, 'ms-flip'),
                                   tta=True, num_workers=options.get('num_workers'))
    return replace(run, metrics={**run.metrics,
                                 **{f'tta_{key}': value for key, value in tta_metrics.items()}})


def evaluate_classifier(checkpoint: str, work_dir: str, **options: object) -> dict[str, float]:
    """``top1`` (%) of a classifier checkpoint (``options``: of
    :func:`~shapes_lab.configs.classifier_config`)."""
    return pick_metrics(evaluate(classifier_config(work_dir, **options), checkpoint),
                        CLASSIFIER_METRICS)


def evaluate_mask_rcnn(data_dir: str, checkpoint: str, work_dir: str,
                       **options: object) -> dict[str, float]:
    """The twelve COCO numbers of a Mask R-CNN checkpoint (``options``: of
    :func:`~shapes_lab.configs.mask_rcnn_config`)."""
    return pick_metrics(evaluate(mask_rcnn_config(data_dir, work_dir, **options), checkpoint),
                        COCO_AP_KEYS)


def evaluate_upernet(data_dir: str, checkpoint: str, work_dir: str, tta: bool = False,
                     **options: object) -> dict[str, float]:
    """``aAcc``, ``mIoU``, ``mAcc`` (%) of an UperNet checkpoint, single-scale or with
    multi-scale + flip (``options``: of :func:`~shapes_lab.configs.upernet_config`)."""
    config = UPERNET_TTA_CONFIG if tta else UPERNET_CONFIG
    return pick_metrics(evaluate(upernet_config(data_dir, work_dir, config=config, **options),
                                 checkpoint), SEG_METRICS)
