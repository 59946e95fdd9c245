"""Train FCMAE, the fine-tuning classifier and Mask R-CNN under bf16 autocast; check every loss.

Official ConvNeXt-V2 issue #66 reports inf/NaN losses in mixed-precision training. This check
trains the three shapes configs in turn, each through mmengine's runner as ``tools/train.py``
builds it, with ``optim_wrapper.type='mmconvnextv2.AutocastOptimWrapper'`` (bf16 forward,
float32 weights, gradients and AdamW state):

1. FCMAE pre-training, ``configs/fcmae/fcmae_convnextv2-atto_shapes.py`` (96-px scenes of the
   unlabelled pool, rendered on the fly);
2. fine-tuning, ``configs/convnextv2/convnextv2-atto_fcmae-ft_shapes.py`` (96 px, layer decay,
   mixup/cutmix, EMA), starting from the encoder step 1 trained;
3. Mask R-CNN, ``configs/mask_rcnn/mask-rcnn_convnextv2-atto_fpn_shapes.py`` (224 px), also
   starting from that encoder, with ``autocast_modules=MMDET_TWO_STAGE_AUTOCAST_MODULES``: every
   conv and linear layer in bf16, mmcv's NMS and RoIAlign (float32-only CPU kernels) between
   them in float32.

Each config keeps its optimiser, lr and data pipeline; the batch is ``--batch-size`` (FCMAE and
fine-tuning) or ``--det-batch-size``, and the epoch schedule is replaced by ``--steps`` iterations
(``--det-steps`` for Mask R-CNN): a linear warm-up from 1% over the first tenth, then the
config's full lr, which stresses the precision more than a decaying lr would. Every iteration's
logged losses (the total and, for Mask R-CNN, each term) and the trained parameters must be
finite; the script prints a table (first and last loss are single iterations' values, the log
lines average over their interval) and exits with status 1 otherwise.

Cost: the defaults (300 steps of FCMAE and of fine-tuning at batch 16, 60 of Mask R-CNN at batch
2) take about 17 minutes with ``OMP_NUM_THREADS=1`` on 2 shared CPU cores whose AVX-512 lacks bf16
instructions: there bf16 convolutions and matmuls are emulated, about 2.5-3x slower than float32
(a bf16 step takes about 2 s for FCMAE, 1 s for fine-tuning, 0.35 s in float32, and 4.5 s for
Mask R-CNN). ``--smoke`` trains 3 steps of each on eight generated 64-px scenes (batch 2, Mask
R-CNN at 64 px) in well under a minute; the tests use it.

Fine-tuning's loss stays near ln 6 over these first few hundred steps, in float32 just as in bf16
(mixup/cutmix, label smoothing 0.2, a head initialised at 0.001 scale): the check is that every
loss stays finite, not how far a short run learns.

FCMAE and fine-tuning render their scenes on the fly; Mask R-CNN reads ``--det-data``,
generated at 320 px when missing (as ``tools/analysis/train_mask_rcnn_shapes.py`` does). The
configs come from :mod:`mmconvnextv2.apis.shapes_runs`, as every shapes run's do.

Examples:
    OMP_NUM_THREADS=1 .venv/bin/python tools/analysis/mixed_precision_check.py \\
        --out /tmp/mixed_precision.json
    OMP_NUM_THREADS=1 .venv/bin/python tools/analysis/mixed_precision_check.py --smoke
"""
import argparse
import json
import math
import os.path as osp
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import torch
from mmengine.config import Config
from mmengine.runner import Runner

from mmconvnextv2.apis.detection import SHAPES_DETECTION_SIZE
from mmconvnextv2.apis.shapes_runs import (classifier_config, fcmae_config, mask_rcnn_config, train,
                                           train_crop)
from mmconvnextv2.datasets import ensure_shapes_dataset
from mmconvnextv2.engine.optimizers import MMDET_TWO_STAGE_AUTOCAST_MODULES

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SMOKE_STEPS, SMOKE_BATCH, SMOKE_SIZE, SMOKE_SCENES = 3, 2, 64, 8
ENCODER_NAME = 'encoder.pth'  # the FCMAE runner's checkpoint that the other two start from


@dataclass
class CheckResult:
    """What one model's run logged."""

    model: str
    steps: int
    first_loss: float
    last_loss: float
    non_finite: int  # logged loss values (all terms, all iterations) that are inf or NaN
    params_finite: bool
    wall_s: float

    @property
    def ok(self) -> bool:
        return self.non_finite == 0 and self.params_finite


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--steps', type=int, default=300,
                        help='training iterations of FCMAE and of fine-tuning')
    parser.add_argument('--batch-size', type=int, default=16,
                        help='batch of FCMAE and of fine-tuning')
    parser.add_argument('--det-steps', type=int, default=60,
                        help='training iterations of Mask R-CNN')
    parser.add_argument('--det-batch-size', type=int, default=2, help='Mask R-CNN batch')
    parser.add_argument('--det-data',
                        default=osp.join(REPO, f'data/shapes_{SHAPES_DETECTION_SIZE}'),
                        help='shapes data of Mask R-CNN (made at 320 px if missing)')
    parser.add_argument('--work-dir', default=osp.join(REPO, 'work_dirs/mixed_precision_check'),
                        help='logs of the three runs (and the --smoke data)')
    parser.add_argument('--log-interval', type=int, default=20, help='iterations between log lines')
    parser.add_argument('--smoke', action='store_true',
                        help=f'{SMOKE_STEPS} steps of each model on {SMOKE_SIZE}-px scenes '
                             f'({SMOKE_SCENES} generated for Mask R-CNN), batch {SMOKE_BATCH} '
                             '(ignores the steps, batch and data options)')
    parser.add_argument('--out', help='also write the results as JSON')
    args = parser.parse_args(argv)
    for name in ('steps', 'batch_size', 'det_steps', 'det_batch_size', 'log_interval'):
        if getattr(args, name) < 1:
            raise SystemExit(f'--{name.replace("_", "-")} must be >= 1, got {getattr(args, name)}')
    return args


def common_options(steps: int, log_interval: int) -> dict[str, object]:
    """Overrides every run shares: bf16 autocast, ``steps`` iterations."""
    return {
        'optim_wrapper.type': 'mmconvnextv2.AutocastOptimWrapper',
        'train_cfg': dict(_delete_=True, by_epoch=False, max_iters=steps),
        # Iteration-based: warm up over the first tenth, then hold the config's lr.
        'param_scheduler': [dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0,
                                 end=steps // 10)] if steps >= 10 else None,
        'default_hooks.logger.interval': log_interval,
        'log_processor.by_epoch': False,
        # The FCMAE encoder is saved explicitly (run_model); no epoch checkpoints.
        'default_hooks.checkpoint': None,
    }


def logged_losses(runner: Runner) -> dict[str, list[float]]:
    """Every iteration's value of each ``train/loss*`` scalar the runner logged."""
    scalars = runner.message_hub.log_scalars
    return {key[len('train/'):]: [float(v) for v in buffer.data[0]]
            for key, buffer in scalars.items() if key.startswith('train/loss')}


def run_model(name: str, cfg: Config, save_as: str | None = None) -> CheckResult:
    """Trains one config under bf16 autocast and summarises its logged losses.

    Args:
        name: The model's name in the table.
        cfg: The run's config.
        save_as: Also save the trained runner's checkpoint under this name in its work dir.
    """
    start = time.time()
    runner = train(cfg)
    if save_as is not None:
        runner.save_checkpoint(cfg.work_dir, save_as, save_optimizer=False,
                               save_param_scheduler=False)
    wall = time.time() - start
    losses = logged_losses(runner)
    if not losses.get('loss'):
        raise RuntimeError(f'{name}: the runner logged no train/loss; nothing to check.')
    total = losses['loss']
    if len(total) != cfg.train_cfg.max_iters:
        raise RuntimeError(f'{name}: {len(total)} losses logged for {cfg.train_cfg.max_iters} '
                           'iterations; every iteration must be checked.')
    non_finite = sum(not math.isfinite(v) for values in losses.values() for v in values)
    params_finite = all(bool(torch.isfinite(p).all()) for p in runner.model.parameters())
    return CheckResult(name, len(total), total[0], total[-1], non_finite, params_finite, wall)


def at_smoke_size(cfg: Config) -> None:
    """Trains ``cfg`` on :data:`SMOKE_SIZE`-px scenes: rendered so, cropped so (two 32-px patches
    a side), or for Mask R-CNN resized so."""
    dataset = cfg.train_dataloader.dataset
    if 'size' in dataset:  # scenes rendered on the fly
        dataset.size = train_crop(cfg).scale = SMOKE_SIZE
    else:
        resize = next(step for step in dataset.pipeline if step.type == 'RandomResize')
        resize.scale = (SMOKE_SIZE, SMOKE_SIZE)


def run_configs(args: argparse.Namespace) -> list[tuple[str, Callable[[], Config]]]:
    """Builders of the configs of FCMAE, then of fine-tuning and Mask R-CNN from its encoder
    (built when their turn comes: the encoder exists then)."""
    if args.smoke:
        det_data = osp.join(args.work_dir, 'smoke_data')
        ensure_shapes_dataset(det_data, num_train=SMOKE_SCENES, num_val=2, size=SMOKE_SIZE,
                              progress=False)
        steps = det_steps = SMOKE_STEPS
        batch, det_batch, log_interval = SMOKE_BATCH, SMOKE_BATCH, 1
    else:
        det_data = args.det_data
        ensure_shapes_dataset(det_data, size=SHAPES_DETECTION_SIZE)
        steps, det_steps = args.steps, args.det_steps
        batch, det_batch, log_interval = args.batch_size, args.det_batch_size, args.log_interval
    encoder = osp.join(args.work_dir, 'fcmae', ENCODER_NAME)
    # Loading in the main process: the machine's cores go to the training itself.
    common = dict(batch_size=batch, num_workers=0,
                  cfg_options=common_options(steps, log_interval))
    det_options = {**common_options(det_steps, log_interval),
                   # mmcv's NMS and RoIAlign have no bf16 CPU kernels: autocast around them.
                   'optim_wrapper.autocast_modules': list(MMDET_TWO_STAGE_AUTOCAST_MODULES)}
    return [
        ('FCMAE', lambda: fcmae_config(osp.join(args.work_dir, 'fcmae'), **common)),
        ('fine-tuning', lambda: classifier_config(osp.join(args.work_dir, 'finetune'),
                                                  init_checkpoint=encoder, **common)),
        ('Mask R-CNN', lambda: mask_rcnn_config(
            det_data, osp.join(args.work_dir, 'mask_rcnn'), init_checkpoint=encoder,
            batch_size=det_batch, num_workers=0, cfg_options=det_options))]


def run_all(args: argparse.Namespace) -> list[CheckResult]:
    """FCMAE, then fine-tuning and Mask R-CNN from its encoder."""
    builders = run_configs(args)
    results = []
    for index, (name, build) in enumerate(builders, 1):
        cfg = build()
        if args.smoke:
            at_smoke_size(cfg)
        print(f'[{index}/{len(builders)}] {name}: {osp.basename(cfg.filename)} under bf16 '
              f'autocast, work dir {cfg.work_dir}', flush=True)
        results.append(run_model(name, cfg, save_as=ENCODER_NAME if name == 'FCMAE' else None))
        print(f'[{index}/{len(builders)}] {name} done: {table(results[-1:])[-1].strip()}',
              flush=True)
    return results


def table(results: list[CheckResult]) -> list[str]:
    """The results as an aligned text table."""
    lines = [f'{"model":<12}{"steps":>6}{"first loss":>12}{"last loss":>11}'
             f'{"non-finite":>12}{"params ok":>11}{"wall s":>9}']
    for r in results:
        lines.append(f'{r.model:<12}{r.steps:>6}{r.first_loss:>12.4f}{r.last_loss:>11.4f}'
                     f'{r.non_finite:>12}{str(r.params_finite):>11}{r.wall_s:>9.0f}')
    return lines


def main(argv: Sequence[str] | None = None) -> list[CheckResult]:
    """Runs the check; exits with status 1 when a loss or a parameter is not finite."""
    args = parse_args(argv)
    start = time.time()
    results = run_all(args)
    wall = time.time() - start
    print('\n'.join(['', 'Training under bf16 autocast (AutocastOptimWrapper):', *table(results),
                     f'total wall time {wall:.0f} s, {torch.get_num_threads()} thread(s)']))
    if args.out:
        with open(args.out, 'w') as f:
            json.dump({'runs': [asdict(r) for r in results], 'smoke': args.smoke,
                       'threads': torch.get_num_threads(), 'wall_time_s': wall}, f, indent=2)
    failed = [r.model for r in results if not r.ok]
    if failed:
        print(f'Non-finite losses or parameters in: {", ".join(failed)}', file=sys.stderr)
        sys.exit(1)
    return results


if __name__ == '__main__':
    main()
