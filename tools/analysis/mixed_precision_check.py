"""Train FCMAE, the fine-tuning classifier and Mask R-CNN under bf16 autocast; check every loss.

Official ConvNeXt-V2 issue #66 reports inf/NaN losses in mixed-precision training. This check
trains the three shapes configs in turn, each through mmengine's runner as ``tools/train.py``
builds it, with ``optim_wrapper.type='mmconvnextv2.AutocastOptimWrapper'`` (bf16 forward,
float32 weights, gradients and AdamW state):

1. FCMAE pre-training, ``configs/fcmae/fcmae_convnextv2-atto_shapes.py`` (128-px crops, the
   'gather' sparse encoder);
2. fine-tuning, ``configs/convnextv2/convnextv2-atto_fcmae-ft_shapes.py`` (64 px, layer decay,
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

The shapes data is generated when missing: ``--data`` at 224 px, ``--det-data`` at 320 px (as
``tools/generate_shapes.py`` and ``tools/analysis/train_mask_rcnn_shapes.py`` do).

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
from dataclasses import asdict, dataclass
from typing import Dict, List, Optional, Sequence

import torch
from mmengine.runner import Runner

from mmconvnextv2.apis import SHAPES_DETECTION_SIZE, build_runner, load_config
from mmconvnextv2.apis.detection import shapes_data_options
from mmconvnextv2.datasets import ensure_shapes_dataset, layout_paths
from mmconvnextv2.engine.optimizers import MMDET_TWO_STAGE_AUTOCAST_MODULES

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
FCMAE_CONFIG = osp.join(REPO, 'configs/fcmae/fcmae_convnextv2-atto_shapes.py')
FINETUNE_CONFIG = osp.join(REPO, 'configs/convnextv2/convnextv2-atto_fcmae-ft_shapes.py')
MASK_RCNN_CONFIG = osp.join(REPO, 'configs/mask_rcnn/mask-rcnn_convnextv2-atto_fpn_shapes.py')
SMOKE_STEPS, SMOKE_BATCH, SMOKE_SIZE, SMOKE_SCENES = 3, 2, 64, 8
ENCODER_NAME = 'encoder.pth'  # the FCMAE runner's checkpoint that the other two start from


@dataclass
class RunResult:
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


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--steps', type=int, default=300,
                        help='training iterations of FCMAE and of fine-tuning')
    parser.add_argument('--batch-size', type=int, default=16,
                        help='batch of FCMAE and of fine-tuning')
    parser.add_argument('--det-steps', type=int, default=60,
                        help='training iterations of Mask R-CNN')
    parser.add_argument('--det-batch-size', type=int, default=2, help='Mask R-CNN batch')
    parser.add_argument('--data', default=osp.join(REPO, 'data/shapes'),
                        help='shapes data of FCMAE and fine-tuning (made at 224 px if missing)')
    parser.add_argument('--det-data',
                        default=osp.join(REPO, f'data/shapes_{SHAPES_DETECTION_SIZE}'),
                        help='shapes data of Mask R-CNN (made at 320 px if missing)')
    parser.add_argument('--work-dir', default=osp.join(REPO, 'work_dirs/mixed_precision_check'),
                        help='logs of the three runs (and the --smoke data)')
    parser.add_argument('--log-interval', type=int, default=20, help='iterations between log lines')
    parser.add_argument('--smoke', action='store_true',
                        help=f'{SMOKE_STEPS} steps of each model on {SMOKE_SCENES} generated '
                             f'{SMOKE_SIZE}-px scenes, batch {SMOKE_BATCH} (ignores the steps, '
                             'batch and data options)')
    parser.add_argument('--out', help='also write the results as JSON')
    args = parser.parse_args(argv)
    for name in ('steps', 'batch_size', 'det_steps', 'det_batch_size', 'log_interval'):
        if getattr(args, name) < 1:
            raise SystemExit(f'--{name.replace("_", "-")} must be >= 1, got {getattr(args, name)}')
    return args


def common_options(steps: int, batch_size: int, log_interval: int) -> Dict[str, object]:
    """Overrides every run shares: bf16 autocast, ``steps`` iterations of ``batch_size``."""
    return {
        'optim_wrapper.type': 'mmconvnextv2.AutocastOptimWrapper',
        'train_cfg': dict(_delete_=True, by_epoch=False, max_iters=steps),
        'train_dataloader.batch_size': batch_size,
        # Iteration-based: warm up over the first tenth, then hold the config's lr.
        'param_scheduler': [dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0,
                                 end=steps // 10)] if steps >= 10 else None,
        # Loading in the main process: the machine's cores go to the training itself.
        'train_dataloader.num_workers': 0,
        'train_dataloader.persistent_workers': False,
        'default_hooks.logger.interval': log_interval,
        'log_processor.by_epoch': False,
        # The FCMAE encoder is saved explicitly (run_model); no epoch checkpoints.
        'default_hooks.checkpoint': None,
    }


def backbone_init(checkpoint: str) -> Dict[str, object]:
    """Starts Mask R-CNN's backbone from the FCMAE runner's checkpoint (its ``backbone.*`` keys)."""
    return {'model.backbone.init_cfg': dict(type='Pretrained', checkpoint=checkpoint,
                                            prefix='backbone.', _delete_=True)}


def logged_losses(runner: Runner) -> Dict[str, List[float]]:
    """Every iteration's value of each ``train/loss*`` scalar the runner logged."""
    scalars = runner.message_hub.log_scalars
    return {key[len('train/'):]: [float(v) for v in buffer.data[0]]
            for key, buffer in scalars.items() if key.startswith('train/loss')}


def run_model(name: str, config: str, work_dir: str, options: Dict[str, object],
              save_as: Optional[str] = None) -> RunResult:
    """Trains one config under bf16 autocast and summarises its logged losses.

    Args:
        name: The model's name in the table.
        config: The config file.
        work_dir: The run's work directory.
        options: ``cfg_options`` overrides.
        save_as: Also save the trained runner's checkpoint under this name in ``work_dir``.
    """
    start = time.time()
    # Applied last: the data options also set the validation loader's data root.
    no_validation = {'val_cfg': None, 'val_dataloader': None, 'val_evaluator': None}
    cfg = load_config(config, work_dir, {**options, **no_validation})
    runner = build_runner(cfg)
    runner.train()
    if save_as is not None:
        runner.save_checkpoint(work_dir, save_as, save_optimizer=False, save_param_scheduler=False)
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
    return RunResult(name, len(total), total[0], total[-1], non_finite, params_finite, wall)


def run_all(args: argparse.Namespace) -> List[RunResult]:
    """FCMAE, then fine-tuning and Mask R-CNN from its encoder."""
    if args.smoke:
        data = det_data = osp.join(args.work_dir, 'smoke_data')
        ensure_shapes_dataset(data, num_train=SMOKE_SCENES, num_val=2, size=SMOKE_SIZE,
                              progress=False)
        steps = det_steps = SMOKE_STEPS
        cls_batch, det_batch, log_interval = SMOKE_BATCH, SMOKE_BATCH, 1
    else:
        data, det_data = args.data, args.det_data
        ensure_shapes_dataset(data)
        ensure_shapes_dataset(det_data, size=SHAPES_DETECTION_SIZE)
        steps, det_steps = args.steps, args.det_steps
        cls_batch, det_batch, log_interval = args.batch_size, args.det_batch_size, args.log_interval
    cls_data = {'train_dataloader.dataset.data_root': layout_paths(data)['cls']}
    fcmae_dir = osp.join(args.work_dir, 'fcmae')
    encoder = osp.join(fcmae_dir, ENCODER_NAME)
    fcmae_options = {**common_options(steps, cls_batch, log_interval), **cls_data}
    finetune_options = {**common_options(steps, cls_batch, log_interval), **cls_data,
                        'model.backbone.init_cfg.checkpoint': encoder}
    det_options = {**common_options(det_steps, det_batch, log_interval),
                   **shapes_data_options(det_data), **backbone_init(encoder),
                   # mmcv's NMS and RoIAlign have no bf16 CPU kernels: autocast around them.
                   'optim_wrapper.autocast_modules': list(MMDET_TWO_STAGE_AUTOCAST_MODULES)}
    if args.smoke:
        # Crops of two 32-px patches a side; Mask R-CNN at the scenes' own size.
        fcmae_options['train_dataloader.dataset.pipeline.1.scale'] = SMOKE_SIZE
        det_options['train_dataloader.dataset.pipeline.2.scale'] = (SMOKE_SIZE, SMOKE_SIZE)

    runs = [('FCMAE', FCMAE_CONFIG, fcmae_dir, fcmae_options),
            ('fine-tuning', FINETUNE_CONFIG, osp.join(args.work_dir, 'finetune'),
             finetune_options),
            ('Mask R-CNN', MASK_RCNN_CONFIG, osp.join(args.work_dir, 'mask_rcnn'), det_options)]
    results = []
    for index, (name, config, work_dir, options) in enumerate(runs, 1):
        print(f'[{index}/{len(runs)}] {name}: {osp.relpath(config, REPO)} under bf16 autocast, '
              f'work dir {work_dir}', flush=True)
        results.append(run_model(name, config, work_dir, options,
                                 save_as=ENCODER_NAME if name == 'FCMAE' else None))
        print(f'[{index}/{len(runs)}] {name} done: {table(results[-1:])[-1].strip()}', flush=True)
    return results


def table(results: List[RunResult]) -> List[str]:
    """The results as an aligned text table."""
    lines = [f'{"model":<12}{"steps":>6}{"first loss":>12}{"last loss":>11}'
             f'{"non-finite":>12}{"params ok":>11}{"wall s":>9}']
    for r in results:
        lines.append(f'{r.model:<12}{r.steps:>6}{r.first_loss:>12.4f}{r.last_loss:>11.4f}'
                     f'{r.non_finite:>12}{str(r.params_finite):>11}{r.wall_s:>9.0f}')
    return lines


def main(argv: Optional[Sequence[str]] = None) -> List[RunResult]:
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
