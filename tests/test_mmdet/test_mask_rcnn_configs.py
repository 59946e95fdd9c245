"""The Mask R-CNN configs build under mmdet with our backbone and follow the paper's COCO recipe;
the layer-wise lr decay gives every parameter group of such a detector its scale."""
import copy
import functools
import glob
import os.path as osp

import pytest
import torch
from mmengine import DefaultScope
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper

from mmconvnextv2.datasets import SHAPE_CLASSES, layout_paths, write_shapes_dataset
from mmconvnextv2.models import ConvNeXtV2

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG_DIR = osp.join(REPO, 'configs/mask_rcnn')
COCO_CONFIGS = sorted(glob.glob(osp.join(CONFIG_DIR, '*_coco.py')))
SMALL = ('atto', 'femto', 'pico', 'nano', 'tiny')
BIG = ('base', 'large', 'huge')
# The paper's architecture table, independent of the backbone's own arch table.
DEPTHS = {'atto': [2, 2, 6, 2], 'femto': [2, 2, 6, 2], 'pico': [2, 2, 6, 2], 'nano': [2, 2, 8, 2],
          'tiny': [3, 3, 9, 3], 'base': [3, 3, 27, 3], 'large': [3, 3, 27, 3],
          'huge': [3, 3, 27, 3]}
CHANNELS = {'atto': [40, 80, 160, 320], 'femto': [48, 96, 192, 384], 'pico': [64, 128, 256, 512],
            'nano': [80, 160, 320, 640], 'tiny': [96, 192, 384, 768],
            'base': [128, 256, 512, 1024], 'large': [192, 384, 768, 1536],
            'huge': [352, 704, 1408, 2816]}
BASE_LR = 1e-4
WEIGHT_DECAY = 0.05


@functools.cache
def _parsed(path: str) -> Config:
    # Resolving the mmdet:: bases reads all of mmdet's metafiles: seconds per config.
    return Config.fromfile(path)


def load(path: str) -> Config:
    """A fresh copy of the config at ``path``."""
    return copy.deepcopy(_parsed(path))


def size_of(path: str) -> str:
    return osp.basename(path).split('_')[1].split('-')[1]


def build_detector(cfg: Config) -> torch.nn.Module:
    """The detector of ``cfg`` built by mmdet's registry, on the meta device (no memory)."""
    from mmdet.registry import MODELS
    with DefaultScope.overwrite_default_scope('mmdet'), torch.device('meta'):
        return MODELS.build(cfg.model)


def reference_layer_id(name: str, depths: list[int], mode: str) -> tuple[int, int]:
    """The official ConvNeXt V2 layer ids (its optim_factory), restated: (id, number of ids)."""
    parts = name.split('.')
    in_backbone = parts[0] == 'backbone' and parts[1] in ('downsample_layers', 'stages')
    stage = int(parts[2]) if in_backbone else -1
    block = int(parts[3]) if in_backbone and parts[1] == 'stages' else 0
    if mode == 'single':
        if not in_backbone:
            return sum(depths) + 1, sum(depths) + 2
        return sum(depths[:stage]) + block + 1, sum(depths) + 2
    # 'group': 12 groups, stage 2 in threes, everything outside the backbone in group 13.
    if not in_backbone:
        return 13, 14
    if parts[1] == 'downsample_layers':
        return {0: 0, 1: 2, 2: 3, 3: 12}[stage], 14
    return {0: 1, 1: 2, 2: 3 + block // 3, 3: 12}[stage], 14


def test_every_size_has_its_configs():
    names = {osp.basename(p) for p in COCO_CONFIGS}
    expected = {f'mask-rcnn_convnextv2-{s}_fpn_ms-{x}_coco.py' for s in SMALL for x in ('1x', '3x')}
    expected |= {f'mask-rcnn_convnextv2-{s}_fpn_16xb2-lsj-3x_coco.py' for s in BIG}
    assert names == expected


@pytest.mark.parametrize('path', COCO_CONFIGS, ids=osp.basename)
def test_config_builds_under_mmdet_with_the_recipe(path):
    size = size_of(path)
    cfg = load(path)
    assert cfg.default_scope == 'mmdet'
    assert cfg.custom_imports.imports == ['mmconvnextv2.models', 'mmconvnextv2.engine']
    model = build_detector(cfg)
    assert type(model).__name__ == 'MaskRCNN' and isinstance(model.backbone, ConvNeXtV2)
    assert model.backbone.depths == DEPTHS[size] and model.backbone.channels == CHANNELS[size]
    assert model.backbone.out_indices == (0, 1, 2, 3)
    assert list(cfg.model.neck.in_channels) == CHANNELS[size]
    init = cfg.model.backbone.init_cfg
    assert init.type == 'mmconvnextv2.ConvNeXtV2Pretrained' and 'prefix' not in init
    assert osp.basename(init.checkpoint).startswith(f'convnextv2-{size}_')

    optimizer = cfg.optim_wrapper.optimizer
    assert (optimizer.type, optimizer.lr, optimizer.weight_decay) == ('AdamW', BASE_LR,
                                                                      WEIGHT_DECAY)
    assert cfg.optim_wrapper.constructor == 'mmconvnextv2.LayerDecayOptimWrapperConstructor'
    paramwise = cfg.optim_wrapper.paramwise_cfg
    assert paramwise.layer_decay_rate in (0.9, 0.95)
    assert cfg.model.test_cfg.rcnn.nms.type == 'soft_nms'
    resize = cfg.train_dataloader.dataset.pipeline[2]
    epochs = cfg.train_cfg.max_epochs
    milestones = cfg.param_scheduler[-1].milestones
    if size in BIG:
        assert (resize.type, tuple(resize.scale), tuple(resize.ratio_range)) == (
            'RandomResize', (1024, 1024), (0.1, 2.0))
        assert cfg.train_dataloader.dataset.pipeline[3].crop_size == (1024, 1024)
        # Batch 32 = 16 GPUs x 2 images.
        assert cfg.train_dataloader.batch_size * 16 == cfg.auto_scale_lr.base_batch_size == 32
        assert paramwise.layer_decay_mode == 'group'
        assert 0.2 <= cfg.model.backbone.drop_path_rate <= 0.5
        assert (epochs, milestones) == (36, [27, 33])
    else:
        assert resize.type == 'RandomResize' and resize.scale == [(1333, 640), (1333, 800)]
        assert paramwise.layer_decay_mode == 'single'
        three_x = '_ms-3x_' in path
        assert (epochs, milestones) == ((36, [27, 33]) if three_x else (12, [8, 11]))

    # The optimiser builds for the detector, as the runner builds it.
    with DefaultScope.overwrite_default_scope('mmdet'):
        wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    assert {g['lr'] for g in wrapper.optimizer.param_groups} >= {BASE_LR}


@pytest.fixture(scope='module')
def coco_dir(tmp_path_factory) -> str:
    out = str(tmp_path_factory.mktemp('shapes'))
    write_shapes_dataset(out, num_train=2, num_val=1, seed=0, size=320, progress=False)
    return layout_paths(out)['coco']


@pytest.mark.parametrize('name', ['mask-rcnn_convnextv2-atto_fpn_ms-1x_coco.py',
                                  'mask-rcnn_convnextv2-base_fpn_16xb2-lsj-3x_coco.py'])
def test_training_data_pipeline_and_batch_padding(name, coco_dir):
    from mmdet.registry import DATASETS, MODELS
    cfg = load(osp.join(CONFIG_DIR, name))
    dataset_cfg = cfg.train_dataloader.dataset
    dataset_cfg.update(data_root=coco_dir, ann_file='annotations/instances_train.json',
                       data_prefix=dict(img='train/'), metainfo=dict(classes=SHAPE_CLASSES))
    with DefaultScope.overwrite_default_scope('mmdet'):
        dataset = DATASETS.build(dataset_cfg)
        preprocessor = MODELS.build(cfg.model.data_preprocessor)
        torch.manual_seed(0)
        samples = [dataset[i] for i in range(len(dataset)) for _ in range(3)]
        batch = preprocessor(dict(inputs=[s['inputs'] for s in samples],
                                  data_samples=[s['data_samples'] for s in samples]),
                             training=True)
    for sample in samples:
        height, width = sample['inputs'].shape[1:]
        gt = sample['data_samples'].gt_instances
        assert len(gt.masks) == len(gt.bboxes)
        if 'lsj' in name:
            # Jitter of a 1024 scale by 0.1-2.0 (the 320-px scenes come out at 102-2048 px),
            # cropped to at most 1024.
            assert max(height, width) <= 1024
        else:
            # Shorter side of 640 to 800 px.
            assert 640 <= min(height, width) <= 800
    inputs = batch['inputs']
    if 'lsj' in name:
        assert inputs.shape[2:] == (1024, 1024)
        for sample in batch['data_samples']:
            assert sample.gt_instances.masks.masks.shape[1:] == (1024, 1024)
    else:
        assert inputs.shape[2] % 32 == 0 and inputs.shape[3] % 32 == 0


def detector_groups(path: str) -> tuple[torch.nn.Module, dict[int, dict]]:
    """The detector of a config and its parameter groups as the runner builds them, by param id."""
    cfg = load(path)
    cfg.model.backbone.init_cfg = None
    model = build_detector(cfg)
    with DefaultScope.overwrite_default_scope('mmdet'):
        wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    groups = {}
    for group in wrapper.optimizer.param_groups:
        for param in group['params']:
            assert id(param) not in groups, 'a parameter is in two groups'
            groups[id(param)] = group
    return model, groups


@pytest.mark.parametrize('name, rate, mode', [
    ('mask-rcnn_convnextv2-atto_fpn_ms-1x_coco.py', 0.9, 'single'),
    ('mask-rcnn_convnextv2-base_fpn_16xb2-lsj-3x_coco.py', 0.9, 'group'),
    ('mask-rcnn_convnextv2-huge_fpn_16xb2-lsj-3x_coco.py', 0.95, 'group'),
])
def test_layer_decay_scales_every_parameter_group_of_mask_rcnn(name, rate, mode):
    model, groups = detector_groups(osp.join(CONFIG_DIR, name))
    depths = DEPTHS[size_of(name)]
    params = dict(model.named_parameters())
    assert len(groups) == len(params)  # every parameter is trained, once
    for param_name, param in params.items():
        group = groups[id(param)]
        layer_id, num_layers = reference_layer_id(param_name, depths, mode)
        scale = rate**(num_layers - layer_id - 1)
        assert group['lr'] == pytest.approx(BASE_LR * scale, rel=1e-9), param_name
        assert group['lr_scale'] == pytest.approx(scale, rel=1e-9), param_name
        # No weight decay on GRN (official issue #15), norms and biases.
        no_decay = param.ndim <= 1 or '.grn.' in param_name
        assert group['weight_decay'] == (0.0 if no_decay else WEIGHT_DECAY), param_name


@pytest.mark.parametrize('name, expected', [
    # atto, one id per block: 12 blocks, stem id 1, top id 13, 14 ids -> stem 0.9^12.
    ('mask-rcnn_convnextv2-atto_fpn_ms-1x_coco.py', {
        'backbone.downsample_layers.0.0.weight': 0.9**12,
        'backbone.stages.0.1.pwconv1.weight': 0.9**11,
        'backbone.downsample_layers.2.1.weight': 0.9**8,
        'backbone.stages.2.5.grn.gamma': 0.9**3,
        'backbone.stages.3.1.dwconv.weight': 0.9,
        'backbone.norm0.weight': 1.0,
        'neck.fpn_convs.0.conv.weight': 1.0,
        'rpn_head.rpn_conv.weight': 1.0,
        'roi_head.mask_head.conv_logits.weight': 1.0}),
    # base, the 12 official groups: stem 0, stage 2 blocks in threes, stage 3 in group 12.
    ('mask-rcnn_convnextv2-base_fpn_16xb2-lsj-3x_coco.py', {
        'backbone.downsample_layers.0.0.weight': 0.9**13,
        'backbone.stages.0.2.pwconv2.weight': 0.9**12,
        'backbone.downsample_layers.1.1.weight': 0.9**11,
        'backbone.stages.2.2.pwconv1.weight': 0.9**10,
        'backbone.stages.2.26.pwconv1.weight': 0.9**2,
        'backbone.downsample_layers.3.1.weight': 0.9,
        'roi_head.bbox_head.fc_cls.weight': 1.0}),
])
def test_layer_decay_hand_computed_scales(name, expected):
    model, groups = detector_groups(osp.join(CONFIG_DIR, name))
    params = dict(model.named_parameters())
    for param_name, scale in expected.items():
        assert groups[id(params[param_name])]['lr'] == pytest.approx(BASE_LR * scale), param_name
