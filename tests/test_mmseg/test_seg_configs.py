"""Every segmentation config loads with mmengine alone (``mmseg::`` and ``./`` bases only) and
builds under the mmseg scope: the model (on the meta device, so Huge costs no memory), its
optimiser with layer-wise lr decay, the data pipelines, the data set and the metric."""
import functools
import glob
import os.path as osp

import pytest
import torch
from mmengine import Config, DefaultScope
from mmengine.optim import build_optim_wrapper
from mmseg.registry import DATASETS, METRICS, MODELS
from mmseg.utils import register_all_modules

from mmconvnextv2.models import ConvNeXtV2

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = sorted(glob.glob(osp.join(REPO, 'configs/upernet/*.py')) +
                 glob.glob(osp.join(REPO, 'configs/sem_fpn/*.py')))
# Parameters in millions with a 1000-class classifier (the paper's table); ours differ by the
# extra output norms of stages 0-2 only.
PAPER_PARAMS = {'atto': 3.7, 'femto': 5.2, 'pico': 9.1, 'nano': 15.6, 'tiny': 28.6, 'base': 89,
                'large': 198, 'huge': 660}

register_all_modules(init_default_scope=False)


def config_id(path: str) -> str:
    return osp.relpath(path, osp.join(REPO, 'configs'))


def test_every_config_is_found():
    names = {config_id(path) for path in CONFIGS}
    for size in PAPER_PARAMS:
        assert f'upernet/convnextv2-{size}_upernet_8xb2-160k_ade20k-512x512.py' in names
    for size in ('base', 'large', 'huge'):
        assert f'upernet/convnextv2-{size}_upernet_8xb2-160k_ade20k-512x512_ms-flip.py' in names
    assert 'upernet/convnextv2-huge_in22k-pre_upernet_8xb2-160k_ade20k-640x640_ms-flip.py' in names
    assert 'upernet/convnextv2-atto_upernet_shapes.py' in names
    assert 'sem_fpn/convnextv2-tiny_fpn_4xb4-160k_ade20k-512x512.py' in names


def test_no_config_climbs_out_of_its_folder():
    for path in CONFIGS + glob.glob(osp.join(REPO, 'configs/upernet/_base_/*.py')):
        with open(path) as f:
            assert '../' not in f.read(), path


@functools.cache
def load(path: str) -> Config:
    """The parsed config; parsed once, as the tests only read it."""
    return Config.fromfile(path)


def segmentor_cfg(cfg: Config) -> Config:
    """The segmentor of a config; the TTA wrapper's ``module`` for multi-scale test configs."""
    return cfg.model.module if cfg.model.type == 'SegTTAModel' else cfg.model


@pytest.mark.parametrize('path', CONFIGS, ids=config_id)
def test_config_builds_under_mmseg(path):
    cfg = load(path)
    assert cfg.default_scope == 'mmseg'
    model_cfg = segmentor_cfg(cfg)
    backbone_cfg = model_cfg.backbone
    assert backbone_cfg.type == 'mmconvnextv2.ConvNeXtV2'
    arch = backbone_cfg.arch
    channels = ConvNeXtV2.arch_settings[arch]['channels']
    shapes = 'shapes' in path

    with DefaultScope.overwrite_default_scope('mmseg'), torch.device('meta'):
        model = MODELS.build(cfg.model)
        segmentor = model.module if cfg.model.type == 'SegTTAModel' else model
        assert isinstance(segmentor.backbone, ConvNeXtV2)
        optim_wrapper = build_optim_wrapper(segmentor, cfg.optim_wrapper)
        for split in ('train', 'val', 'test'):
            dataset_cfg = dict(cfg[f'{split}_dataloader'].dataset, lazy_init=True)
            dataset = DATASETS.build(dataset_cfg)
            assert len(dataset.metainfo['classes']) == (7 if shapes else 150)
            # Every transform resolved in the mmseg scope.
            assert len(dataset.pipeline.transforms) == len(dataset_cfg['pipeline'])
        metric = METRICS.build(cfg.test_evaluator)
    assert metric.metrics == ['mIoU']  # IoUMetric: aAcc, mIoU and mAcc

    # The backbone is the size the config names.
    if not shapes:
        params = sum(p.numel() for p in segmentor.backbone.parameters())
        params += channels[-1] * 1001  # the classifier the paper counts
        assert params / 1e6 == pytest.approx(PAPER_PARAMS[arch], rel=0.02)
        init = backbone_cfg.init_cfg
        assert init.type == 'mmconvnextv2.ConvNeXtV2Pretrained' and 'prefix' not in init
        assert init.checkpoint.startswith(f'checkpoints/convnextv2-{arch}_')

    # Heads read the backbone's widths.
    if 'neck' in model_cfg:
        assert model_cfg.neck.in_channels == channels
    else:
        assert model_cfg.decode_head.in_channels == channels
        assert model_cfg.auxiliary_head.in_channels == channels[2]
        assert model_cfg.decode_head.num_classes == (7 if shapes else 150)

    # AdamW with layer-wise lr decay (our constructor, which tags each group) in the paper's range.
    assert isinstance(optim_wrapper.optimizer, torch.optim.AdamW)
    assert all('lr_scale' in group for group in optim_wrapper.optimizer.param_groups)
    paramwise = cfg.optim_wrapper.paramwise_cfg
    if shapes:
        assert paramwise.layer_decay_rate == 1.0  # from scratch: nothing to preserve
    else:
        assert 1e-4 <= cfg.optim_wrapper.optimizer.lr <= 3e-4
        assert paramwise.layer_decay_rate in (0.8, 0.9)
        assert paramwise.layer_decay_mode == ('group' if arch in ('base', 'large', 'huge')
                                              else 'single')
        # 160k iterations at batch 16 across the GPUs the name states.
        gpus, per_gpu = (8, 2) if 'upernet' in path else (4, 4)
        assert cfg.train_dataloader.batch_size == per_gpu and gpus * per_gpu == 16
        assert cfg.train_cfg.max_iters == 160000
        assert cfg.param_scheduler[-1].end == 160000
        crop = 640 if '640x640' in path else 512
        assert tuple(model_cfg.data_preprocessor.size) == (crop, crop)
        crops = [t for t in cfg.train_dataloader.dataset.pipeline if t.type == 'RandomCrop']
        assert tuple(crops[0].crop_size) == (crop, crop)


@pytest.mark.parametrize('path', [p for p in CONFIGS if p.endswith('_ms-flip.py')],
                         ids=config_id)
def test_multi_scale_flip_configs_wrap_their_single_scale_config(path):
    cfg = load(path)
    single = load(path.replace('_ms-flip.py', '.py'))
    assert cfg.model.type == 'SegTTAModel'
    assert cfg.model.module.to_dict() == single.model.to_dict()
    pipeline = cfg.test_dataloader.dataset.pipeline
    assert pipeline == single.tta_pipeline
    resizes, flips = pipeline[1].transforms[:2]
    assert sorted(t.prob for t in flips) == [0.0, 1.0]
    # Scales are ratios of the single-scale test size, 1.0 among them.
    single_scale = [t for t in single.test_dataloader.dataset.pipeline if t.type == 'Resize'][0]
    assert [tuple(t.scale) for t in resizes].count(tuple(single_scale.scale)) == 1
    assert len(resizes) >= 3
    # Validation during training stays single-scale.
    assert cfg.val_dataloader.dataset.pipeline == single.val_dataloader.dataset.pipeline
