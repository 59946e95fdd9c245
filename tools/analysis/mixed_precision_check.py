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
finite; the script prints a table (first and last loss are single iterations' values) and exits
with status 1 otherwise. The three are stages of the shapes tools' runner
(tools/shapes_lab/stages.py): each one's console goes to ``<work-dir>/<stage>/console.log``.

Cost: the ``mixed-precision`` preset (300 steps of FCMAE and of fine-tuning at batch 16, 60 of
Mask R-CNN at batch 2) takes about 17 minutes with ``OMP_NUM_THREADS=1`` on 2 shared CPU cores
whose AVX-512 lacks bf16 instructions: there bf16 convolutions and matmuls are emulated, about
2.5-3x slower than float32 (a bf16 step takes about 2 s for FCMAE, 1 s for fine-tuning, 0.35 s
in float32, and 4.5 s for Mask R-CNN). ``--smoke`` (``--preset smoke``) trains 3 steps of each
on eight generated 64-px scenes (batch 2, Mask R-CNN at 64 px) in well under a minute; the tests
use it.

Fine-tuning's loss stays near ln 6 over these first few hundred steps, in float32 just as in bf16
(mixup/cutmix, label smoothing 0.2, a head initialised at 0.001 scale): the check is that every
loss stays finite, not how far a short run learns.

FCMAE and fine-tuning render their scenes on the fly; Mask R-CNN reads ``--det-data``, by default
the preset's scenes generated in the work directory.

Examples:
    OMP_NUM_THREADS=1 .venv/bin/python tools/analysis/mixed_precision_check.py \\
        --out /tmp/mixed_precision.json
    OMP_NUM_THREADS=1 .venv/bin/python tools/analysis/mixed_precision_check.py --smoke
"""
import argparse
import functools
import json
import math
import os.path as osp
import sys
import time
from collections.abc import Sequence
from dataclasses import replace

# shapes_lab is in tools/, the folder above this script's; it is not installed.
sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import torch  # noqa: E402

from mmconvnextv2.datasets import ensure_shapes_dataset  # noqa: E402
from shapes_lab.sizes import PRESETS, Sizes, TaskSize, add_preset_argument  # noqa: E402
from shapes_lab.stages import Stage, StageResult, run_stages, stage_dir  # noqa: E402
from shapes_lab.training import classifier_stage, fcmae_stage, mask_rcnn_stage  # noqa: E402

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
# The stages and the models' names in the table.
MODELS = {'fcmae': 'FCMAE', 'finetune': 'fine-tuning', 'mask_rcnn': 'Mask R-CNN'}


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_preset_argument(parser, ('mixed-precision', 'smoke'), alias='smoke')
    parser.add_argument('--steps', type=int,
                        help="training iterations of FCMAE and of fine-tuning (the preset's)")
    parser.add_argument('--batch-size', type=int,
                        help="batch of FCMAE and of fine-tuning (the preset's)")
    parser.add_argument('--det-steps', type=int,
                        help="training iterations of Mask R-CNN (the preset's)")
    parser.add_argument('--det-batch-size', type=int, help="Mask R-CNN batch (the preset's)")
    parser.add_argument('--det-data',
                        help="shapes data of Mask R-CNN, made at the preset's size if missing "
                             '(default: in the work directory)')
    parser.add_argument('--work-dir', default=osp.join(REPO, 'work_dirs/mixed_precision_check'),
                        help='logs of the three runs')
    parser.add_argument('--out', help='also write the results as JSON')
    args = parser.parse_args(argv)
    for name in ('steps', 'batch_size', 'det_steps', 'det_batch_size'):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f'--{name.replace("_", "-")} must be >= 1, got {value}')
    return args


def check_sizes(args: argparse.Namespace) -> Sizes:
    """The preset, with the steps and batches the command line gives."""
    sizes = PRESETS[args.preset]

    def resized(size: TaskSize, iters: int | None, batch: int | None) -> TaskSize:
        return replace(size, iters=iters or size.iters, batch=batch or size.batch)

    return replace(sizes, fcmae=resized(sizes.fcmae, args.steps, args.batch_size),
                   classifier=resized(sizes.classifier, args.steps, args.batch_size),
                   mask_rcnn=resized(sizes.mask_rcnn, args.det_steps, args.det_batch_size))


def check_stages(sizes: Sizes, work_dir: str, det_data: str) -> list[Stage]:
    """FCMAE, then fine-tuning and Mask R-CNN from its last checkpoint, all in bf16, untested."""
    encoder = stage_dir(work_dir, 'fcmae')
    bf16 = dict(precision='bfloat16', workers=sizes.workers)
    return [
        Stage('fcmae', functools.partial(fcmae_stage, encoder, sizes.fcmae, **bf16)),
        Stage('finetune', functools.partial(classifier_stage, stage_dir(work_dir, 'finetune'),
                                            sizes.classifier, encoder, test=False, **bf16)),
        Stage('mask_rcnn', functools.partial(mask_rcnn_stage, stage_dir(work_dir, 'mask_rcnn'),
                                             det_data, sizes.mask_rcnn, encoder, test=False,
                                             **bf16))]


def check_row(result: StageResult, iters: int) -> dict[str, object]:
    """One model's line: ``ok`` when it logged a loss at each of its ``iters`` iterations and
    every loss and parameter is finite."""
    values = result.values or {}
    row = dict(model=MODELS[result.name], steps=values.get('logged_losses', 0),
               first_loss=values.get('first_loss', math.nan),
               last_loss=values.get('last_loss', math.nan),
               non_finite=values.get('non_finite_losses', 0),
               params_finite=values.get('params_finite', False), wall_s=result.seconds,
               error=result.error)
    row['ok'] = result.ok and row['steps'] == iters and not row['non_finite'] and bool(
        row['params_finite'])
    return row


def table(rows: list[dict[str, object]]) -> list[str]:
    """The rows as an aligned text table."""
    lines = [f'{"model":<12}{"steps":>6}{"first loss":>12}{"last loss":>11}'
             f'{"non-finite":>12}{"params ok":>11}{"wall s":>9}']
    for r in rows:
        lines.append(f'{r["model"]:<12}{r["steps"]:>6}{r["first_loss"]:>12.4f}'
                     f'{r["last_loss"]:>11.4f}{r["non_finite"]:>12}{str(r["params_finite"]):>11}'
                     f'{r["wall_s"]:>9.0f}' + (f'  {r["error"]}' if r['error'] else ''))
    return lines


def main(argv: Sequence[str] | None = None) -> list[dict[str, object]]:
    """Runs the check; exits with status 1 when a loss or a parameter is not finite, or a run
    logged fewer losses than it trained iterations."""
    args = parse_args(argv)
    start = time.time()
    sizes = check_sizes(args)
    scenes = sizes.det_scenes
    det_data = args.det_data or scenes.folder(args.work_dir)
    ensure_shapes_dataset(det_data, scenes.train, scenes.test, size=scenes.size, progress=False)
    results = run_stages(check_stages(sizes, args.work_dir, det_data), args.work_dir,
                         start=start)
    iters = {'fcmae': sizes.fcmae.iters, 'finetune': sizes.classifier.iters,
             'mask_rcnn': sizes.mask_rcnn.iters}
    rows = [check_row(result, iters[name]) for name, result in results.items()]
    wall = time.time() - start
    print('\n'.join(['', 'Training under bf16 autocast (AutocastOptimWrapper):', *table(rows),
                     f'total wall time {wall:.0f} s, {torch.get_num_threads()} thread(s)']))
    if args.out:
        with open(args.out, 'w') as f:
            json.dump({'runs': rows, 'preset': sizes.name, 'threads': torch.get_num_threads(),
                       'wall_time_s': wall}, f, indent=2)
    failed = [row['model'] for row in rows if not row['ok']]
    if failed:
        print(f'Non-finite losses or parameters, or missing losses, in: {", ".join(failed)}',
              file=sys.stderr)
        sys.exit(1)
    return rows


if __name__ == '__main__':
    main()
