"""FCMAE pre-training versus training from scratch, ConvNeXt V2-Atto on the bundled shapes.

For every seed, two runs of the same fine-tuning recipe
(``configs/convnextv2/convnextv2-atto_fcmae-ft_shapes.py``: layer decay, EMA, mixup/cutmix, label
smoothing) with an equal training budget in FLOPs:

* FCMAE: pre-training (``configs/fcmae/fcmae_convnextv2-atto_shapes.py``), then fine-tuning from
  its checkpoint;
* scratch: the fine-tuning from random initialisation, for as many more epochs as the pre-training
  cost. A training step costs 3 forward passes, whose FLOPs ``torch.utils.flop_counter`` counts
  on each model (the masked FCMAE encoder and its decoder; the classifier).

Prints a markdown table of the top-1 on the validation scenes (per seed, mean and sample standard
deviation) and writes it to ``--out``, whatever the outcome.

Examples::

    python tools/analysis/finetune_study.py                 # the study: seeds 0 1 2
    python tools/analysis/finetune_study.py --smoke         # a few images: checks that it runs
"""
import argparse
import os.path as osp
import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import torch
from mmengine.config import Config
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample
from torch.utils.flop_counter import FlopCounterMode

from mmconvnextv2.apis import build_runner, load_config, set_max_epochs
from mmconvnextv2.datasets import DEFAULT_NUM_TRAIN, SHAPE_CLASSES, ensure_shapes_dataset

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
FCMAE_CONFIG = osp.join(REPO, 'configs/fcmae/fcmae_convnextv2-atto_shapes.py')
FINETUNE_CONFIG = osp.join(REPO, 'configs/convnextv2/convnextv2-atto_fcmae-ft_shapes.py')
# --smoke: scenes, batch, epochs (pre-training, fine-tuning) and image sides that run in seconds.
SMOKE = dict(num_train=16, num_val=8, batch_size=8, pretrain_epochs=2, finetune_epochs=3,
             fcmae_size=64)


@dataclass
class Arm:
    """One way of training, with its results over the seeds."""

    name: str
    pretrain_epochs: int
    finetune_epochs: int
    flops: float
    top1: Dict[int, float] = field(default_factory=dict)
    seconds: float = 0.0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--data', default=osp.join(REPO, 'data/shapes'),
                        help='the bundled shapes data (generated if missing)')
    parser.add_argument('--work-dir', default=osp.join(REPO, 'work_dirs/finetune_study'))
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument('--pretrain-epochs', type=int,
                        help='FCMAE epochs (default: the config\'s)')
    parser.add_argument('--finetune-epochs', type=int,
                        help='fine-tuning epochs of the FCMAE arm (default: the config\'s)')
    parser.add_argument('--out', help='markdown file for the table (default: WORK_DIR/results.md)')
    parser.add_argument('--smoke', action='store_true',
                        help=f'tiny setting to check the script: {SMOKE}')
    args = parser.parse_args()
    # Each schedule needs an epoch of its cosine part after its warm-up (1 and 2 epochs).
    for name, least in (('pretrain_epochs', 2), ('finetune_epochs', 3)):
        value = getattr(args, name)
        if value is not None and value < least:
            parser.error(f'--{name.replace("_", "-")} must be at least {least}, got {value}')
    return args


def use_data(cfg: Config, smoke: bool, data_root: str) -> None:
    """Points the data loaders at ``data_root``; ``smoke`` loads small batches in-process."""
    for split in ('train', 'val', 'test'):
        loader = cfg.get(f'{split}_dataloader')
        if loader is None:
            continue
        loader.dataset.data_root = osp.join(data_root, 'cls')
        if smoke:
            loader.update(batch_size=SMOKE['batch_size'], num_workers=0,
                          persistent_workers=False)


def crop_step(cfg: Config) -> dict:
    """The RandomResizedCrop of the training pipeline: it sets the side of training images."""
    return next(s for s in cfg.train_dataloader.dataset.pipeline
                if s['type'] == 'RandomResizedCrop')


def pretrain_config(args: argparse.Namespace, data_root: str, seed: int, work_dir: str) -> Config:
    """The FCMAE pre-training of one seed."""
    cfg = load_config(FCMAE_CONFIG, work_dir)
    use_data(cfg, args.smoke, data_root)
    if args.smoke:
        crop_step(cfg).scale = SMOKE['fcmae_size']
    epochs = args.pretrain_epochs or (SMOKE['pretrain_epochs'] if args.smoke else None)
    if epochs:
        set_max_epochs(cfg, epochs)
    cfg.randomness = dict(seed=seed, diff_rank_seed=True)
    return cfg


def finetune_config(args: argparse.Namespace, data_root: str, seed: int, work_dir: str,
                    epochs: int, checkpoint: Optional[str]) -> Config:
    """The fine-tuning of one seed, from ``checkpoint`` or (None) from scratch."""
    cfg = load_config(FINETUNE_CONFIG, work_dir)
    use_data(cfg, args.smoke, data_root)
    set_max_epochs(cfg, epochs)
    # From scratch: the backbone's own initialisation (truncated normal), not a checkpoint.
    cfg.model.backbone.init_cfg = (None if checkpoint is None else
                                   dict(type='mmconvnextv2.ConvNeXtV2Pretrained',
                                        checkpoint=checkpoint))
    cfg.randomness = dict(seed=seed)
    cfg.default_hooks.checkpoint.update(interval=epochs, max_keep_ckpts=1)
    return cfg


def train_flops_per_image(cfg: Config, batch_size: int = 4) -> float:
    """Training FLOPs per image: 3 x the forward pass of the loss (backward ~ 2 x forward).

    Only the forward pass is counted: torch's FlopCounterMode counts the backward of a depthwise
    convolution as that of a dense one (20x too much for ConvNeXt V2-Atto).
    """
    model = MODELS.build(cfg.model)
    size = int(crop_step(cfg).scale)
    inputs = torch.randn(batch_size, 3, size, size)
    samples = [DataSample().set_gt_label(i % len(SHAPE_CLASSES)) for i in range(batch_size)]
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model.loss(inputs, samples)
    return 3 * counter.get_total_flops() / batch_size


def run(cfg: Config) -> Dict[str, float]:
    """Trains, then tests; returns the test metrics."""
    runner = build_runner(cfg)
    runner.train()
    return runner.test()


def fmt_top1(values: List[float]) -> str:
    """``mean ± sample std`` (the std needs two values)."""
    mean = statistics.mean(values)
    spread = f' ± {statistics.stdev(values):.1f}' if len(values) > 1 else ''
    return f'{mean:.1f}{spread}'


def table(arms: List[Arm], seeds: List[int], command: str, num_train: int) -> str:
    """The markdown results: one row per arm, the difference of the means, the command."""
    lines = [
        f'| start | epochs (pre-train + fine-tune) | training TFLOP | top-1 % per seed '
        f'({", ".join(map(str, seeds))}) | top-1 % mean ± std | wall-clock s |',
        '|---|---|---|---|---|---|',
    ]
    for arm in arms:
        per_seed = ' / '.join(f'{arm.top1[s]:.1f}' for s in seeds)
        total = arm.flops * num_train / 1e12
        lines.append(f'| {arm.name} | {arm.pretrain_epochs} + {arm.finetune_epochs} | '
                     f'{total:.3g} | {per_seed} | {fmt_top1(list(arm.top1.values()))} | '
                     f'{arm.seconds:.0f} |')
    fcmae, scratch = arms
    difference = (statistics.mean(fcmae.top1.values()) -
                  statistics.mean(scratch.top1.values()))
    lines += ['', f'FCMAE minus scratch: {difference:+.1f} points of top-1 (chance '
                  f'{100 / len(SHAPE_CLASSES):.1f} %; std over seeds, n = {len(seeds)}).',
              '', f'Command: `{command}`']
    return '\n'.join(lines)


def main() -> None:
    args = parse_args()
    out = args.out or osp.join(args.work_dir, 'results.md')
    if args.smoke:
        data_root, num_train = osp.join(args.work_dir, 'data'), SMOKE['num_train']
        ensure_shapes_dataset(data_root, num_train, SMOKE['num_val'], size=64, progress=False)
    else:
        data_root, num_train = args.data, DEFAULT_NUM_TRAIN
        ensure_shapes_dataset(data_root)

    # The configs of the first seed, for their epochs and FLOPs.
    pre_cfg = pretrain_config(args, data_root, args.seeds[0], args.work_dir)
    ft_epochs = args.finetune_epochs or (SMOKE['finetune_epochs'] if args.smoke else
                                         load_config(FINETUNE_CONFIG).train_cfg.max_epochs)
    ft_cfg = finetune_config(args, data_root, args.seeds[0], args.work_dir, ft_epochs, None)
    fcmae_flops, cls_flops = train_flops_per_image(pre_cfg), train_flops_per_image(ft_cfg)
    pre_epochs = pre_cfg.train_cfg.max_epochs
    extra = round(pre_epochs * fcmae_flops / cls_flops)
    arms = [Arm('FCMAE pre-training + fine-tuning', pre_epochs, ft_epochs,
                pre_epochs * fcmae_flops + ft_epochs * cls_flops),
            Arm('from scratch, equal compute', 0, ft_epochs + extra,
                (ft_epochs + extra) * cls_flops)]
    print(f'FLOPs per training image: FCMAE {fcmae_flops / 1e9:.3f} G, fine-tuning '
          f'{cls_flops / 1e9:.3f} G: {pre_epochs} FCMAE epochs cost as much as {extra} epochs of '
          'fine-tuning.',
          flush=True)

    for seed in args.seeds:
        seed_dir = osp.join(args.work_dir, f'seed{seed}')
        start = time.time()
        pre = pretrain_config(args, data_root, seed, osp.join(seed_dir, 'fcmae'))
        build_runner(pre).train()
        checkpoint = osp.join(seed_dir, 'fcmae', f'epoch_{pre.train_cfg.max_epochs}.pth')
        metrics = run(finetune_config(args, data_root, seed, osp.join(seed_dir, 'finetune'),
                                      ft_epochs, checkpoint))
        arms[0].top1[seed] = metrics['accuracy/top1']
        arms[0].seconds += time.time() - start
        start = time.time()
        metrics = run(finetune_config(args, data_root, seed, osp.join(seed_dir, 'scratch'),
                                      arms[1].finetune_epochs, None))
        arms[1].top1[seed] = metrics['accuracy/top1']
        arms[1].seconds += time.time() - start

    command = 'python tools/analysis/finetune_study.py ' + ' '.join(sys.argv[1:])
    text = table(arms, args.seeds, command.strip(), num_train)
    print('\n' + text)
    with open(out, 'w') as f:
        f.write(text + '\n')
    print(f'\nwritten to {out}')


if __name__ == '__main__':
    main()
