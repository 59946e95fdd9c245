"""The paper's claim in small: top-1 against the number of labelled scenes, per way of starting.

ConvNeXt V2-Atto on the bundled shapes (:class:`~mmconvnextv2.datasets.ShapesClsDataset`), the same
number of optimiser steps at every label budget, each start with each of three recipes:

* starts: random initialisation (``scratch``); the FCMAE V2 (GRN) encoder pre-trained on the
  unlabelled pool (``fcmae_v2``); the V1-style FCMAE encoder (no GRN, LayerScale), pre-trained the
  same way (``fcmae_v1``); for the ablation, encoders with GRN and LayerScale (``fcmae_grn_ls``)
  and with neither (``fcmae_bare``), at the low-lr plain recipe only;
* recipes: the paper's fine-tuning recipe of
  ``configs/convnextv2/convnextv2-atto_fcmae-ft_shapes.py`` (mixup, cutmix, RandAugment, erasing,
  layer decay), the plain recipe of ``configs/convnextv2/convnextv2-atto_shapes.py`` (light
  crops and flips, lr 1e-3; arms ``*_plain``), and the plain recipe at lr 3e-4 of
  ``configs/convnextv2/convnextv2-atto_shapes_lr3e-4.py`` (arms ``*_lr3e-4``). The fine-tuning
  recipe's regularisation keeps a random network at chance for this many steps; the plain one
  lets it learn, so the plain arms are the comparison in which scratch is a real baseline. The
  lower lr suits the pre-trained starts and not scratch: each start is compared at its best lr.

A frozen-feature linear probe (ridge regression on the standardised, average-pooled last-stage
features) measures each encoder, and a random-init one, without training it. Every run writes
its own ``result.json``, so a killed study continues where it stopped and several processes can
share the arms; :func:`collect` reads whatever is there.
"""
import json
import math
import os
import os.path as osp
import re
import statistics
from dataclasses import dataclass

import torch
from mmengine.config import Config

from mmconvnextv2.analysis import build_model, load_images, preprocess
from mmconvnextv2.datasets import SHAPE_CLASSES, ShapesClsDataset
from mmconvnextv2.utils import atomic_write_text, load_config
from mmconvnextv2.utils.checkpoint import load_source

from .chance import CHANCE_TOP1
from .configs import (CLASSIFIER_CONFIG, CLASSIFIER_METRICS, PLAIN_CLASSIFIER_CONFIG, backbone_init,
                      classifier_config, without_validation)
from .runs import train_and_test

# The plain recipe at the lr that suits a pre-trained start.
LOW_LR_CLASSIFIER_CONFIG = 'mmconvnextv2::convnextv2/convnextv2-atto_shapes_lr3e-4.py'
# The starts (None: random weights) and the recipes, as the table and the plot name them.
START_TITLES = {None: 'from scratch', 'fcmae_v2': 'FCMAE V2 (GRN)',
                'fcmae_v1': 'FCMAE V1-style (LayerScale, no GRN)',
                'fcmae_grn_ls': 'FCMAE, GRN and LayerScale',
                'fcmae_bare': 'FCMAE, neither GRN nor LayerScale'}
RECIPE_TITLES = {CLASSIFIER_CONFIG: 'fine-tuning recipe', PLAIN_CLASSIFIER_CONFIG: 'plain recipe',
                 LOW_LR_CLASSIFIER_CONFIG: 'plain recipe at lr 3e-4'}
# Plot line style and marker of each recipe's arms (the start sets the colour).
RECIPE_STYLES = {CLASSIFIER_CONFIG: ('-', 'o'), PLAIN_CLASSIFIER_CONFIG: ('-.', 's'),
                 LOW_LR_CLASSIFIER_CONFIG: (':', '^')}


@dataclass(frozen=True)
class Arm:
    """A way of starting and training the classifier.

    Attributes:
        encoder: The pre-trained encoder it starts from, one of ``ENCODERS``; None starts from
            random weights.
        recipe: Its training config.
    """
    encoder: str | None
    recipe: str

    @property
    def title(self) -> str:
        """Its name in the table and the plot."""
        return f'{START_TITLES[self.encoder]}, {RECIPE_TITLES[self.recipe]}'


ARMS: dict[str, Arm] = {
    'scratch': Arm(None, CLASSIFIER_CONFIG),
    'fcmae_v2': Arm('fcmae_v2', CLASSIFIER_CONFIG),
    'fcmae_v1': Arm('fcmae_v1', CLASSIFIER_CONFIG),
    'scratch_plain': Arm(None, PLAIN_CLASSIFIER_CONFIG),
    'fcmae_v2_plain': Arm('fcmae_v2', PLAIN_CLASSIFIER_CONFIG),
    'fcmae_v1_plain': Arm('fcmae_v1', PLAIN_CLASSIFIER_CONFIG),
    'scratch_lr3e-4': Arm(None, LOW_LR_CLASSIFIER_CONFIG),
    'fcmae_v2_lr3e-4': Arm('fcmae_v2', LOW_LR_CLASSIFIER_CONFIG),
    'fcmae_v1_lr3e-4': Arm('fcmae_v1', LOW_LR_CLASSIFIER_CONFIG),
    # The GRN x LayerScale ablation, at the recipe in which V2 does best with few labels.
    'fcmae_grn_ls_lr3e-4': Arm('fcmae_grn_ls', LOW_LR_CLASSIFIER_CONFIG),
    'fcmae_bare_lr3e-4': Arm('fcmae_bare', LOW_LR_CLASSIFIER_CONFIG),
}
# The pre-trained encoders, and what the probes measure: each of them and random weights.
ENCODERS = ('fcmae_v2', 'fcmae_v1', 'fcmae_grn_ls', 'fcmae_bare')
PROBE_TITLES = {**{name: START_TITLES[name] for name in ENCODERS}, 'random': 'random init'}
# Plot colours of the starts (the recipe and the probe set the line style).
COLOURS = {None: 'tab:grey', 'fcmae_v2': 'tab:red', 'fcmae_v1': 'tab:blue',
           'fcmae_grn_ls': 'tab:purple', 'fcmae_bare': 'tab:orange', 'random': 'black'}
# Ridge penalty of the probe, relative to the mean squared feature norm.
PROBE_RIDGE = 1e-2
# The blocks of the encoders that are not ConvNeXt V2's (configs/fcmae/fcmae_convnextv2-atto-
# {v1style,grn-layerscale,bare}_shapes.py): their fine-tuning and probe build the same network.
BACKBONE_OVERRIDES = {'fcmae_v1': dict(use_grn=False, layer_scale_init_value=1e-6),
                      'fcmae_grn_ls': dict(layer_scale_init_value=1e-6),
                      'fcmae_bare': dict(use_grn=False)}


def backbone_config(cfg: Config, network: str | None, encoder: str | None) -> None:
    """Sets the backbone of ``network`` in ``cfg`` and its initialisation from ``encoder``.

    ``network`` is one of ``ENCODERS`` or None (ConvNeXt V2 as the recipe builds it): the
    blocks of the V1-style and the ablation encoders differ.

    ConvNeXt V2 encoders load through :func:`~shapes_lab.configs.backbone_init`
    (``ConvNeXtV2Pretrained``, with its size check); the others, which that loader refuses as not
    ConvNeXt V2, as our own checkpoints (``backbone.*``; :func:`check_encoder_blocks` first).
    """
    cfg.model.backbone.update(BACKBONE_OVERRIDES.get(network, {}))
    if encoder is not None and network in BACKBONE_OVERRIDES:
        cfg.model.backbone.init_cfg = dict(type='Pretrained', checkpoint=encoder,
                                           prefix='backbone.')
    else:
        cfg.model.backbone.init_cfg = backbone_init(encoder)


def check_encoder_blocks(network: str, checkpoint: str) -> None:
    """Checks that ``checkpoint``'s blocks have GRN and LayerScale where ``network``'s have.

    The non-strict loading of a mismatched encoder would leave those weights at their
    initialisation without a word.

    Raises:
        ValueError: If the checkpoint has no ``backbone.stages.*`` blocks, or they differ.
    """
    keys = [key for key in load_source(checkpoint) if key.startswith('backbone.stages.')]
    if not keys:
        raise ValueError(f'{checkpoint} has no backbone.stages.* weights: not an FCMAE run or '
                         'encoder checkpoint of ours.')
    overrides = BACKBONE_OVERRIDES.get(network, {})
    wanted = {'GRN': overrides.get('use_grn', True),
              'LayerScale': overrides.get('layer_scale_init_value', 0.0) > 0}
    found = {'GRN': any(key.endswith('.grn.gamma') for key in keys),
             'LayerScale': any(re.fullmatch(r'backbone\.stages\.\d+\.\d+\.gamma', key)
                               for key in keys)}
    for part in wanted:
        if wanted[part] != found[part]:
            raise ValueError(f'{checkpoint} is not a {network} encoder: its blocks '
                             f'{"have" if found[part] else "lack"} {part}, {network}\'s '
                             f'{"have" if wanted[part] else "lack"} it. Pass a checkpoint that '
                             f'{network}\'s FCMAE config trained.')


@dataclass(frozen=True)
class StudyRun:
    """One fine-tuning (or probe) of the study.

    Attributes:
        arm: A key of ``ARMS`` (fine-tuning), or with ``probe`` one of ``ENCODERS`` or
            ``'random'``.
        num_train: Labelled training scenes (the first of the ``train`` split).
        seed: Random seed of the fine-tuning.
        probe: A frozen-feature linear probe instead of fine-tuning.
    """
    arm: str
    num_train: int
    seed: int = 0
    probe: bool = False

    @property
    def name(self) -> str:
        """The run's folder under the study's work directory."""
        kind = 'probe' if self.probe else 'finetune'
        return osp.join(kind, self.arm, f'n{self.num_train}_seed{self.seed}')


def probe_runs(networks: list[str], sizes: list[int], seeds: list[int]) -> list[StudyRun]:
    """The linear probes of ``networks`` (of ``ENCODERS``, or ``'random'``) at every label budget.

    A pre-trained encoder's probe is a closed-form ridge regression on fixed scenes: no seed
    changes it, so it runs once, with the first seed. Random weights are drawn anew per seed.
    """
    return [StudyRun(network, n, seed, probe=True) for network in networks for n in sizes
            for seed in (seeds if network == 'random' else seeds[:1])]


def finetune_config(run: StudyRun, encoder: str | None, iters: int, work_dir: str,
                    num_val: int | None = None) -> Config:
    """The fine-tuning config of ``run``: ``iters`` steps of the recipe's batch on its scenes.

    Args:
        run: The run.
        encoder: Backbone checkpoint to start from; None starts from random weights.
        iters: Optimiser steps; the epochs are as many as that takes (at least 3: both recipes
            warm up for 2).
        work_dir: Where the run writes.
        num_val: Validation scenes; the config's when None.

    Returns:
        The config.
    """
    arm = ARMS[run.arm]
    # Every arm drops the last incomplete batch (the fine-tuning recipe does, the plain one not),
    # so all take the same steps; a budget below one batch is one smaller batch.
    batch_size = min(load_config(arm.recipe).train_dataloader.batch_size, run.num_train)
    steps_per_epoch = run.num_train // batch_size
    cfg = classifier_config(work_dir, max_epochs=max(3, math.ceil(iters / steps_per_epoch)),
                            num_train=run.num_train, num_val=num_val, batch_size=batch_size,
                            config=arm.recipe)
    cfg.train_dataloader.drop_last = True
    backbone_config(cfg, arm.encoder, encoder)
    # Tested once, after training (validation would evaluate the same scenes again).
    without_validation(cfg)
    cfg.randomness = dict(seed=run.seed)
    cfg.default_hooks.checkpoint.update(interval=cfg.train_cfg.max_epochs, max_keep_ckpts=1)
    cfg.default_hooks.logger.interval = 50
    return cfg


def finetune(run: StudyRun, encoder: str | None, iters: int, work_dir: str,
             num_val: int | None = None) -> float:
    """Fine-tunes and tests ``run``; returns its validation top-1 in %."""
    result = train_and_test(finetune_config(run, encoder, iters, work_dir, num_val),
                            CLASSIFIER_METRICS)
    return float(result.metrics['top1'])


@torch.no_grad()
def pooled_features(model: torch.nn.Module, dataset: ShapesClsDataset,
                    batch_size: int = 100) -> torch.Tensor:
    """The average-pooled last-stage features of every scene."""
    features = []
    for start in range(0, len(dataset), batch_size):
        images = load_images(dataset, range(start, min(start + batch_size, len(dataset))))
        features.append(model.extract_feat(preprocess(model, images))[-1].mean((-2, -1)))
    return torch.cat(features).double()


def ridge_probe(train: torch.Tensor, train_labels: torch.Tensor, val: torch.Tensor,
                val_labels: torch.Tensor) -> float:
    """Top-1 (%) of a one-vs-rest ridge regression on standardised features, in closed form."""
    mean, std = train.mean(0), train.std(0) + 1e-6
    x = torch.cat([(train - mean) / std, torch.ones(len(train), 1, dtype=train.dtype)], 1)
    targets = torch.nn.functional.one_hot(train_labels, len(SHAPE_CLASSES)).to(x.dtype)
    penalty = PROBE_RIDGE * x.pow(2).sum(1).mean() * torch.eye(x.shape[1], dtype=x.dtype)
    weights = torch.linalg.solve(x.T @ x + penalty, x.T @ targets)
    val_x = torch.cat([(val - mean) / std, torch.ones(len(val), 1, dtype=val.dtype)], 1)
    return float((val_x @ weights).argmax(1).eq(val_labels).double().mean() * 100)


def probe(run: StudyRun, encoder: str | None, num_val: int) -> float:
    """Top-1 (%) of the frozen encoder's linear probe; None as ``encoder`` probes random weights."""
    cfg = load_config(CLASSIFIER_CONFIG)
    backbone_config(cfg, run.arm if run.arm in ENCODERS else None, None)
    # The encoders have no final norm: probe the raw last stage (the probe standardises it).
    cfg.model.backbone.update(gap_before_final_norm=False, with_out_norms=False)
    torch.manual_seed(run.seed)
    model = build_model(cfg, encoder)
    size = cfg.train_dataloader.dataset.size
    pipeline = cfg.test_dataloader.dataset.pipeline
    train = ShapesClsDataset(run.num_train, 'train', size=size, pipeline=pipeline)
    val = ShapesClsDataset(num_val, 'val', size=size, pipeline=pipeline, test_mode=True)
    return ridge_probe(pooled_features(model, train), torch.tensor(train.get_gt_labels()),
                       pooled_features(model, val), torch.tensor(val.get_gt_labels()))


def run_study(runs: list[StudyRun], encoders: dict[str, str], iters: int,
              work_dir: str, num_val: int) -> None:
    """Runs every run of ``runs`` that has no ``result.json`` yet, writing it when done.

    Args:
        runs: The runs.
        encoders: The checkpoint of each of ``ENCODERS`` the runs need.
        iters: Optimiser steps of each fine-tuning.
        work_dir: Where the runs write.
        num_val: Validation scenes.
    """
    for index, run in enumerate(runs):
        out = osp.join(work_dir, run.name, 'result.json')
        if osp.isfile(out):
            continue
        print(f'study: run {index + 1}/{len(runs)}: {run.name}', flush=True)
        network = run.arm if run.probe else ARMS[run.arm].encoder
        encoder = None if network in (None, 'random') else encoders[network]
        if run.probe:
            top1 = probe(run, encoder, num_val)
        else:
            top1 = finetune(run, encoder, iters, osp.join(work_dir, run.name), num_val)
        print(f'study: {run.name}: top-1 {top1:.1f} %', flush=True)
        os.makedirs(osp.dirname(out), exist_ok=True)
        atomic_write_text(out, json.dumps(dict(arm=run.arm, num_train=run.num_train,
                                               seed=run.seed, probe=run.probe, top1=top1,
                                               encoder=encoder, iters=iters, num_val=num_val)))


def collect(work_dir: str) -> list[dict]:
    """Every ``result.json`` under ``work_dir``."""
    results = []
    for folder, _, files in os.walk(work_dir):
        if 'result.json' in files:
            with open(osp.join(folder, 'result.json')) as f:
                results.append(json.load(f))
    return results


def summarise(results: list[dict]) -> dict[tuple[str, bool], dict[int, list[float]]]:
    """Top-1 values grouped by (arm, probe) and then by label budget."""
    groups: dict[tuple[str, bool], dict[int, list[float]]] = {}
    for result in results:
        budget = groups.setdefault((result['arm'], result['probe']), {})
        budget.setdefault(result['num_train'], []).append(result['top1'])
    return groups


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    return statistics.mean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def in_table_order(groups: dict[tuple[str, bool], dict]) -> list[tuple[str, bool]]:
    """The (arm, probe) keys of ``groups`` in the order of ``ARMS``, then the probes."""
    order = [(arm, False) for arm in ARMS] + [(arm, True) for arm in PROBE_TITLES]
    return [key for key in order if key in groups]


def row_title(arm: str, is_probe: bool) -> str:
    """The name of an arm's (or a probe's) row in the table and line in the plot."""
    return PROBE_TITLES[arm] + ', linear probe' if is_probe else ARMS[arm].title


def table(results: list[dict]) -> str:
    """The markdown table: one row per arm, one column per label budget, mean ± std (n)."""
    groups = summarise(results)
    sizes = sorted({r['num_train'] for r in results})
    lines = ['| start, recipe | ' + ' | '.join(f'{n} labelled scenes' for n in sizes) + ' |',
             '|---|' + '---|' * len(sizes)]
    for arm, is_probe in in_table_order(groups):
        cells = []
        for n in sizes:
            values = groups[arm, is_probe].get(n)
            if values is None:
                cells.append('–')
                continue
            mean, std = mean_std(values)
            cells.append(f'{mean:.1f} ± {std:.1f} ({len(values)})')
        lines.append(f'| {row_title(arm, is_probe)} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def plot(results: list[dict], path: str) -> str:
    """Top-1 against the number of labelled scenes (log axis), mean ± std per arm."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    groups = summarise(results)
    fig, ax = plt.subplots(figsize=(9.6, 4.4))
    for arm, is_probe in in_table_order(groups):
        budgets = groups[arm, is_probe]
        sizes = sorted(budgets)
        stats = [mean_std(budgets[n]) for n in sizes]
        if is_probe:
            colour, (style, marker) = COLOURS[arm], ('--', 'o')
        else:
            colour, (style, marker) = COLOURS[ARMS[arm].encoder], RECIPE_STYLES[ARMS[arm].recipe]
        ax.errorbar(sizes, [m for m, _ in stats], yerr=[s for _, s in stats],
                    label=row_title(arm, is_probe),
                    color=colour, linestyle=style, marker=marker, capsize=3)
    ax.axhline(CHANCE_TOP1, color='black', linewidth=0.8, linestyle=':', label='chance')
    ax.set_xscale('log')
    ax.set_xlabel('labelled training scenes')
    ax.set_ylabel('validation top-1 (%)')
    ax.set_title('ConvNeXt V2-Atto on the bundled shapes')
    # Beside the axes: a dozen lines would hide the data.
    ax.legend(fontsize=7, loc='center left', bbox_to_anchor=(1.01, 0.5))
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
