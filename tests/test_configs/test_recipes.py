"""Every classification recipe config builds, and holds the paper's hyper-parameters.

The tables below are transcribed from ../shared/paper.md (fine-tuning recipes, IN-22K recipe) and
the official TRAINING.md; the values the paper does not give are marked "assumed" and follow the
ConvNeXt V1 recipes named in the configs. The training mechanics follow the official
main_finetune.py (docs/recipes.md): warm-up from lr 0, drop_last, the lr scaled to every run's
effective batch, the EMA updated per optimizer step with both models evaluated.
"""
import copy
import functools
import glob
import os.path as osp
import re

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.runner import Runner
from mmpretrain.registry import MODELS
from torch.utils.data import TensorDataset

from mmconvnextv2.models import ConvNeXtV2

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG_DIR = osp.join(REPO, 'configs/convnextv2')
ALL_CONFIGS = sorted(glob.glob(osp.join(CONFIG_DIR, '*.py')))

# FCMAE -> IN-1K fine-tuning (paper.md table; lr per 256 images).
FCMAE_FT = {
    'atto': dict(blr=2e-4, ld=0.9, mode='single', epochs=600, warmup=0, wd=0.3, ls=0.2,
                 mix=None, dp=0.1),
    'femto': dict(blr=2e-4, ld=0.9, mode='single', epochs=600, warmup=0, wd=0.05, ls=0.2,
                  mix=(0.3, 0.3), dp=0.0),
    'pico': dict(blr=2e-4, ld=0.9, mode='single', epochs=600, warmup=0, wd=0.3, ls=0.2,
                 mix=(0.3, 0.3), dp=0.0),
    'nano': dict(blr=2e-4, ld=0.9, mode='single', epochs=600, warmup=0, wd=0.3, ls=0.2,
                 mix=(0.5, 0.5), dp=0.1),
    'tiny': dict(blr=8e-4, ld=0.9, mode='single', epochs=300, warmup=40, wd=0.05, ls=0.1,
                 mix=(0.8, 1.0), dp=0.2),
    'base': dict(blr=6.25e-4, ld=0.6, mode='group', epochs=100, warmup=20, wd=0.05, ls=0.1,
                 mix=(0.8, 1.0), dp=0.1),
    'large': dict(blr=6.25e-4, ld=0.6, mode='group', epochs=100, warmup=20, wd=0.05, ls=0.1,
                  mix=(0.8, 1.0), dp=0.2),
    # 'group' for huge is assumed (same depths as base and large).
    'huge': dict(blr=6.25e-4, ld=0.75, mode='group', epochs=50, warmup=10, wd=0.05, ls=0.1,
                 mix=(0.8, 1.0), dp=0.3),
}
# IN-22K intermediate: base lr 2.5e-4 at 4096, 90 epochs, layer decay 0.8 (B/L/H) / 0.9 (N/T).
IN22K_LAYER_DECAY = dict(nano=(0.9, 'single'), tiny=(0.9, 'single'), base=(0.8, 'group'),
                         large=(0.8, 'group'), huge=(0.8, 'group'))
# IN-1K after IN-22K: base lr 2.5e-5, weight decay 1e-8, 30 (B/L/H) or 90 (N/T) epochs.
IN22K_FT_EPOCHS = dict(nano=90, tiny=90, base=30, large=30, huge=30)
GPUS = 32  # the batch sizes in the names: 32 GPUs x images per GPU


@functools.cache
def load(name: str) -> Config:
    """The config (parsed once per session; tests must not modify it)."""
    return Config.fromfile(osp.join(CONFIG_DIR, name))


def step(pipeline: list[dict], kind: str) -> dict:
    matches = [s for s in pipeline if s['type'] == kind]
    assert len(matches) == 1, (kind, pipeline)
    return matches[0]


def schedule(cfg: Config) -> dict[str, dict]:
    return {s['type']: s for s in cfg.param_scheduler}


def assert_official_augmentation(cfg: Config, size: int) -> None:
    train = cfg.train_dataloader.dataset.pipeline
    crop = step(train, 'RandomResizedCrop')
    assert (crop.scale, crop.interpolation) == (size, 'bicubic')
    rand_augment = step(train, 'RandAugment')  # rand-m9-mstd0.5-inc1
    assert (rand_augment.policies, rand_augment.num_policies, rand_augment.total_level,
            rand_augment.magnitude_level, rand_augment.magnitude_std) == \
        ('timm_increasing', 2, 10, 9, 0.5)
    assert step(train, 'RandomErasing').erase_prob == 0.25
    if cfg.val_dataloader is None:  # IN-22K: no validation split
        return
    test = cfg.val_dataloader.dataset.pipeline
    if size < 384:  # resize the short side to size / 0.875, centre crop
        assert step(test, 'ResizeEdge').scale == int(size / 0.875)
        assert step(test, 'CenterCrop').crop_size == size
    else:  # warp
        assert tuple(step(test, 'Resize').scale) == (size, size)


def assert_schedule(cfg: Config, lr: float, epochs: int, warmup: int) -> None:
    assert cfg.train_cfg.max_epochs == epochs
    schedulers = schedule(cfg)
    cosine = schedulers['CosineAnnealingLR']
    assert cosine.begin == warmup and 'end' not in cosine  # cosine runs to max_epochs
    assert cosine.eta_min_ratio * lr == pytest.approx(1e-6)  # official min_lr
    if warmup:  # official: lr * epoch / warmup_epochs, from 0
        warmup_scheduler = schedulers['mmconvnextv2.LinearWarmupLR']
        assert (warmup_scheduler.start_factor, warmup_scheduler.end) == (0.0, warmup)
    else:
        assert set(schedulers) == {'CosineAnnealingLR'}
    assert_official_mechanics(cfg)


def assert_official_mechanics(cfg: Config) -> None:
    """The lr follows every run's effective batch; the last incomplete batch is dropped; an EMA is
    updated per optimizer step, the raw and the EMA model evaluated."""
    assert cfg.auto_scale_lr.enable is True
    assert cfg.train_dataloader.drop_last is True
    hooks = [h for h in cfg.get('custom_hooks', []) if h['type'].endswith('EMAHook')]
    for hook in hooks:
        assert hook.type == 'mmconvnextv2.OptimStepEMAHook' and hook.evaluate_on_origin


def ema_momentum(cfg: Config):
    hooks = [h for h in cfg.get('custom_hooks', []) if h['type'].endswith('EMAHook')]
    return hooks[0].momentum if hooks else None


def mixing(cfg: Config):
    if cfg.model.get('train_cfg') is None:
        return None
    alphas = {a['type']: a['alpha'] for a in cfg.model.train_cfg.augments}
    return alphas['Mixup'], alphas['CutMix']


@pytest.mark.parametrize('arch', list(FCMAE_FT))
def test_fcmae_finetuning_recipe(arch):
    expected = FCMAE_FT[arch]
    cfg = load(f'convnextv2-{arch}_32xb32_in1k.py')
    assert cfg.model.backbone.arch == arch
    assert cfg.model.backbone.drop_path_rate == expected['dp']
    assert cfg.model.head.in_channels == ConvNeXtV2.arch_settings[arch]['channels'][-1]
    assert cfg.model.head.loss.label_smooth_val == expected['ls']
    assert cfg.model.head.init_std * cfg.model.head.head_init_scale == pytest.approx(2e-5)
    assert cfg.model.backbone.init_cfg.type == 'mmconvnextv2.ConvNeXtV2Pretrained'
    assert mixing(cfg) == expected['mix']
    lr = expected['blr'] * 1024 / 256
    optimizer = cfg.optim_wrapper.optimizer
    assert (optimizer.type, optimizer.betas) == ('AdamW', (0.9, 0.999))
    assert optimizer.lr == pytest.approx(lr) and optimizer.weight_decay == expected['wd']
    assert cfg.optim_wrapper.paramwise_cfg == dict(layer_decay_rate=expected['ld'],
                                                   layer_decay_mode=expected['mode'])
    assert cfg.auto_scale_lr.base_batch_size == 1024 == GPUS * cfg.train_dataloader.batch_size
    assert_schedule(cfg, lr, expected['epochs'], expected['warmup'])
    assert ema_momentum(cfg) == pytest.approx(1 - 0.9999)
    assert_official_augmentation(cfg, 224)


@pytest.mark.parametrize('arch', list(IN22K_LAYER_DECAY))
def test_in22k_intermediate_recipe(arch):
    cfg = load(f'convnextv2-{arch}_fcmae-pre_32xb128_in22k.py')
    rate, mode = IN22K_LAYER_DECAY[arch]
    lr = 2.5e-4 * 4096 / 256
    assert cfg.optim_wrapper.optimizer.lr == pytest.approx(lr)
    assert cfg.optim_wrapper.paramwise_cfg == dict(layer_decay_rate=rate, layer_decay_mode=mode)
    assert cfg.auto_scale_lr.base_batch_size == 4096 == GPUS * cfg.train_dataloader.batch_size
    assert_schedule(cfg, lr, epochs=90, warmup=5)  # warm-up: assumed (ConvNeXt V1)
    assert ema_momentum(cfg) is None
    assert cfg.model.head.num_classes == cfg.data_preprocessor.num_classes == 21841
    assert cfg.train_dataloader.dataset.type == 'ImageNet21k'
    assert cfg.val_dataloader is None and cfg.val_cfg is None
    assert cfg.model.backbone.drop_path_rate == FCMAE_FT[arch]['dp']  # assumed
    assert_official_augmentation(cfg, 224)


@pytest.mark.parametrize('name', sorted(
    osp.basename(p) for p in glob.glob(osp.join(CONFIG_DIR, '*_in22k-pre_*_in1k*.py'))))
def test_in1k_after_in22k_recipe(name):
    arch, size = re.fullmatch(r'convnextv2-(\w+?)_in22k-pre_32xb16_in1k(?:-(\d+)px)?\.py',
                              name).groups()
    cfg = load(name)
    rate, mode = IN22K_LAYER_DECAY[arch]  # assumed: the IN-22K stage's layer decay
    lr = 2.5e-5 * 512 / 256
    assert cfg.optim_wrapper.optimizer.lr == pytest.approx(lr)
    assert cfg.optim_wrapper.optimizer.weight_decay == 1e-8
    assert cfg.optim_wrapper.paramwise_cfg == dict(layer_decay_rate=rate, layer_decay_mode=mode)
    assert cfg.auto_scale_lr.base_batch_size == 512 == GPUS * cfg.train_dataloader.batch_size
    assert_schedule(cfg, lr, epochs=IN22K_FT_EPOCHS[arch], warmup=0)
    assert ema_momentum(cfg) == pytest.approx(1e-4)
    assert cfg.model.backbone.init_cfg.type == 'mmconvnextv2.ConvNeXtV2Pretrained'
    assert_official_augmentation(cfg, int(size or 224))


def test_in22k_configs_cover_nano_to_huge():
    names = {osp.basename(p) for p in ALL_CONFIGS}
    for arch in ('nano', 'tiny', 'base', 'large', 'huge'):
        assert f'convnextv2-{arch}_fcmae-pre_32xb128_in22k.py' in names
        for suffix in ('', '-384px') + (('-512px', ) if arch == 'huge' else ()):
            assert f'convnextv2-{arch}_in22k-pre_32xb16_in1k{suffix}.py' in names


@pytest.mark.parametrize('arch', ['atto', 'femto', 'pico', 'nano', 'tiny', 'base', 'large'])
def test_supervised_from_scratch_recipe(arch):
    cfg = load(f'convnextv2-{arch}_scratch_32xb128_in1k.py')
    assert cfg.model.backbone.get('init_cfg') is None  # random initialisation
    assert cfg.model.head.head_init_scale == 1.0
    assert cfg.optim_wrapper.paramwise_cfg.layer_decay_rate == 1.0
    assert cfg.auto_scale_lr.base_batch_size == 4096 == GPUS * cfg.train_dataloader.batch_size
    assert_schedule(cfg, 4e-3, epochs=300, warmup=20)
    assert ema_momentum(cfg) == pytest.approx(1e-4)
    assert mixing(cfg) == (0.8, 1.0)


def test_multi_resolution_config():
    cfg = load('convnextv2-base_32xb32_in1k-multires.py')
    assert cfg.test_cfg.type == 'mmconvnextv2.MultiResolutionTestLoop'
    assert cfg.test_cfg.resolutions == [224, 288, 384]


@pytest.mark.parametrize('path', ALL_CONFIGS, ids=osp.basename)
def test_config_builds_with_its_optimiser_groups(path):
    cfg = load(osp.basename(path))
    with torch.device('meta'):  # huge builds in milliseconds and allocates nothing
        model = MODELS.build(copy.deepcopy(cfg.model))
    assert model.backbone.channels[-1] == cfg.model.head.in_channels
    paramwise = cfg.optim_wrapper.get('paramwise_cfg', {})
    if 'layer_decay_rate' not in paramwise:
        return  # the shapes baseline of the demo uses mmengine's default constructor
    groups = build_optim_wrapper(model, cfg.optim_wrapper).optimizer.param_groups
    rate, depths = paramwise.layer_decay_rate, model.backbone.depths
    # The stem learns at rate ** L (L = blocks, or 12 groups), the head at the full lr.
    num_layers = sum(depths) if paramwise.get('layer_decay_mode', 'single') == 'single' else 13
    scales = [g['lr_scale'] for g in groups]
    assert min(scales) == pytest.approx(rate**num_layers) and max(scales) == 1.0
    no_decay = {n for g in groups if g['weight_decay'] == 0.0 for n in g['param_names']}
    assert 'backbone.stages.0.0.grn.gamma' in no_decay
    assert 'backbone.stages.0.0.pwconv1.weight' not in no_decay


@pytest.mark.parametrize('name', ['convnextv2-atto_32xb32_in1k.py',
                                  'convnextv2-base_fcmae-pre_32xb128_in22k.py',
                                  'convnextv2-tiny_in22k-pre_32xb16_in1k-384px.py',
                                  'convnextv2-large_scratch_32xb128_in1k.py'])
def test_training_loader_drops_the_last_incomplete_batch(name):
    """The config's training loader, built on 10 samples: whole batches only."""
    loader = copy.deepcopy(load(name).train_dataloader)
    loader.update(dataset=TensorDataset(torch.zeros(10, 1)), batch_size=4, num_workers=0,
                  persistent_workers=False, collate_fn=dict(type='default_collate'))
    assert len(Runner.build_dataloader(loader)) == 10 // 4
