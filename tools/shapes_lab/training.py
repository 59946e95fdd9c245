"""The training stages of the shapes tools, one per task, shared by the demo, the GPU check and
the mixed-precision check: FCMAE, the classifier, Mask R-CNN and UperNet.

Each trains its task's config at a :class:`~shapes_lab.sizes.TaskSize` in a precision, tests the
last checkpoint unless told not to, and returns a JSON-serialisable record for
:func:`~shapes_lab.stages.run_stages`: the test's metrics, the iterations, the checkpoint, the
logged losses' first and last values and how many of them (every term, every iteration) are not
finite, whether the trained parameters are, and a ``summary`` line.
"""
import math
import os.path as osp

from .configs import CLASSIFIER_CONFIG
from .runs import (RunResult, last_checkpoint, pretrain_fcmae, train_classifier, train_mask_rcnn,
                   train_upernet)
from .sizes import TaskSize


def resolve_init(init: str | None) -> str | None:
    """The checkpoint a run starts from: ``init`` itself, or, when ``init`` is a folder, the
    last checkpoint an earlier run saved there (a stage that starts from the one before it).

    Raises:
        FileNotFoundError: If the folder holds no run's checkpoint.
    """
    return last_checkpoint(init) if init is not None and osp.isdir(init) else init


def _budget(size: TaskSize) -> dict[str, object]:
    """The options of a config builder that ``size`` sets (the schedule, batch, overrides)."""
    options = {'max_epochs': size.epochs, 'max_iters': size.iters, 'batch_size': size.batch,
               'cfg_options': size.options or None}
    return {name: value for name, value in options.items() if value is not None}


def record(run: RunResult, init: str | None, summary: str) -> dict[str, object]:
    """The stage record of ``run`` (module docstring)."""
    total = run.losses.get('loss', [])
    return dict(
        metrics=run.metrics, iters=run.iters, checkpoint=run.checkpoint, work_dir=run.work_dir,
        log_dir=run.log_dir, init=init, optim_wrapper=run.optim_wrapper, logged_losses=len(total),
        first_loss=total[0] if total else math.nan, last_loss=total[-1] if total else math.nan,
        non_finite_losses=sum(not math.isfinite(value)
                              for values in run.losses.values() for value in values),
        params_finite=run.params_finite, loss_scale=run.loss_scale, summary=summary)


def _loss_summary(run: RunResult) -> str:
    """The summary of a run that was not tested: its loss and whether it stayed finite."""
    total = run.losses.get('loss', [math.nan])
    return f'{run.iters} iterations, loss {total[0]:.3f} -> {total[-1]:.3f}' + (
        '' if all(map(math.isfinite, total)) else ', NOT FINITE')


def fcmae_stage(work_dir: str, size: TaskSize, precision: str = 'float32',
                workers: int = 0) -> dict[str, object]:
    """FCMAE pre-training: metrics ``loss_first``, ``loss_last`` and, with ``size.test_scenes``,
    the held-out ``val_loss`` and ``val_loss_patch_mean``
    (:func:`~shapes_lab.runs.pretrain_fcmae`)."""
    run = pretrain_fcmae(work_dir, val_scenes=size.test_scenes or 0, num_train=size.train_scenes,
                         img_size=size.img_size, precision=precision, num_workers=workers,
                         **_budget(size))
    summary = (f'{run.iters} iterations, training loss {run.metrics["loss_first"]:.3f} -> '
               f'{run.metrics["loss_last"]:.3f}')
    if 'val_loss' in run.metrics:
        summary += (f', held-out loss {run.metrics["val_loss"]:.3f} (predicting patch means: '
                    f'{run.metrics["val_loss_patch_mean"]:.3f})')
    return record(run, None, summary)


def classifier_stage(work_dir: str, size: TaskSize, init: str | None = None,
                     config: str = CLASSIFIER_CONFIG, precision: str = 'float32',
                     workers: int = 0, test: bool = True) -> dict[str, object]:
    """The classifier from ``init`` (:func:`resolve_init`; None: from scratch) with the recipe
    ``config``; tested: ``top1`` (%)."""
    init = resolve_init(init)
    run = train_classifier(work_dir, test=test, init_checkpoint=init, config=config,
                           num_train=size.train_scenes, num_val=size.test_scenes,
                           img_size=size.img_size, precision=precision, num_workers=workers,
                           **_budget(size))
    summary = (f'{run.iters} iterations, top-1 {run.metrics["top1"]:.1f} %' if test
               else _loss_summary(run))
    return record(run, init, summary)


def mask_rcnn_stage(work_dir: str, data_dir: str, size: TaskSize, init: str | None = None,
                    precision: str = 'float32', workers: int = 0,
                    test: bool = True) -> dict[str, object]:
    """Mask R-CNN on the scenes of ``data_dir`` from ``init`` (:func:`resolve_init`; None: from
    scratch); tested: the twelve COCO numbers, AP in [0, 1] or -1."""
    init = resolve_init(init)
    run = train_mask_rcnn(data_dir, work_dir, test=test, init_checkpoint=init,
                          img_size=size.img_size, precision=precision, num_workers=workers,
                          **_budget(size))
    summary = (f'{run.iters} iterations, box AP {100 * run.metrics["bbox_mAP"]:.1f} %, mask AP '
               f'{100 * run.metrics["segm_mAP"]:.1f} %' if test else _loss_summary(run))
    return record(run, init, summary)


def upernet_stage(work_dir: str, data_dir: str, size: TaskSize, init: str | None = None,
                  precision: str = 'float32', workers: int = 0,
                  test: bool = True) -> dict[str, object]:
    """UperNet on the scenes of ``data_dir`` from ``init`` (:func:`resolve_init`; None: from
    scratch); tested: ``aAcc``, ``mIoU``, ``mAcc`` (%).

    Raises:
        ValueError: If ``size`` gives epochs or an image size (UperNet trains by iterations on
            crops of its scenes).
    """
    if size.epochs is not None or size.img_size is not None:
        raise ValueError('UperNet trains by iterations on crops of its scenes: give its '
                         f'TaskSize iters, not epochs or img_size (got {size}).')
    init = resolve_init(init)
    run = train_upernet(data_dir, work_dir, test=test, init_checkpoint=init, precision=precision,
                        num_workers=workers, **_budget(size))
    summary = (f'{run.iters} iterations, mIoU {run.metrics["mIoU"]:.1f} %' if test
               else _loss_summary(run))
    return record(run, init, summary)
