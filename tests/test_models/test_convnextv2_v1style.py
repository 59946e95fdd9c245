"""The V1-style options of ConvNeXtV2 (no GRN, LayerScale): defaults unchanged, V1 reproduced."""
import os.path as osp

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmpretrain.models import ConvNeXt
from mmpretrain.registry import MODELS

from mmconvnextv2.models import SPARSE_BACKENDS, ConvNeXtV2, ConvNeXtV2Block, SparseConvNeXtV2
from mmconvnextv2.models.utils import random_patch_mask

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
ARCH = dict(depths=[1, 1, 2, 1], channels=[8, 16, 24, 32])
V1_STYLE = dict(use_grn=False, layer_scale_init_value=1e-6)
BLOCK_V2 = ['dwconv.weight', 'dwconv.bias', 'norm.weight', 'norm.bias', 'pwconv1.weight',
            'pwconv1.bias', 'grn.gamma', 'grn.beta', 'pwconv2.weight', 'pwconv2.bias']


def expected_keys(block_keys: list) -> list:
    keys = [f'downsample_layers.{i}.{j}.{p}' for i in range(4) for j in range(2)
            for p in ('weight', 'bias')]
    keys += [f'stages.{i}.{j}.{k}' for i, depth in enumerate(ARCH['depths'])
             for j in range(depth) for k in block_keys]
    return sorted(keys + ['norm.weight', 'norm.bias'])


def test_default_state_dict_keys_are_unchanged():
    assert sorted(ConvNeXtV2(arch=ARCH).state_dict()) == expected_keys(BLOCK_V2)


def test_v1_style_has_layer_scale_and_no_grn():
    model = ConvNeXtV2(arch=ARCH, **V1_STYLE)
    model.init_weights()
    block_keys = [k for k in BLOCK_V2 if not k.startswith('grn.')] + ['gamma']
    assert sorted(model.state_dict()) == expected_keys(block_keys)
    assert model.stages[2][1].grn is None
    torch.testing.assert_close(model.stages[2][1].gamma.detach(), torch.full((24, ), 1e-6))
    with pytest.raises(ValueError, match='layer_scale_init_value must be >= 0'):
        ConvNeXtV2Block(8, layer_scale_init_value=-1.0)


def test_v1_style_equals_mmpretrain_convnext_v1():
    torch.manual_seed(0)
    ours = ConvNeXtV2(arch=ARCH, out_indices=(0, 1, 2, 3), gap_before_final_norm=False,
                      **V1_STYLE)
    ours.init_weights()
    with torch.no_grad():
        for name, param in ours.named_parameters():
            if name.endswith('gamma') or 'norm' in name:  # LayerScale far from 1e-6 matters
                param.normal_(0.5, 0.2)
    # mmpretrain's V1 (its defaults: no GRN, LayerScale) with our weights under its names.
    theirs = ConvNeXt(arch=ARCH, out_indices=(0, 1, 2, 3), gap_before_final_norm=False)
    renames = {'.dwconv.': '.depthwise_conv.', '.pwconv1.': '.pointwise_conv1.',
               '.pwconv2.': '.pointwise_conv2.'}
    state = {}
    for key, value in ours.state_dict().items():
        for old, new in renames.items():
            key = key.replace(old, new)
        state['norm3.' + key[5:] if key.startswith('norm.') else key] = value
    theirs.load_state_dict(state)
    x = torch.randn(2, 3, 64, 64)
    for out, ref in zip(ours(x), theirs(x)):
        torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)


def reference_v1_encoder(model: ConvNeXtV2, image: torch.Tensor, removed: torch.Tensor) -> list:
    """One image; V1 blocks (no GRN, LayerScale) on the visible sites only, op by op."""
    outs = []
    x = image[None]
    for down, stage in zip(model.downsample_layers, model.stages):
        x = down(x)
        s = x.shape[-1] // removed.shape[-1]
        keep = (1 - removed).repeat_interleave(s, 0).repeat_interleave(s, 1).bool()
        x = x * keep
        for block in stage:
            y = F.conv2d(x, block.dwconv.weight, block.dwconv.bias, padding=3, groups=x.shape[1])
            sites = y[0][:, keep].t()
            sites = F.layer_norm(sites, sites.shape[-1:], block.norm.weight, block.norm.bias, 1e-6)
            sites = F.gelu(F.linear(sites, block.pwconv1.weight, block.pwconv1.bias))
            sites = F.linear(sites, block.pwconv2.weight, block.pwconv2.bias) * block.gamma
            update = torch.zeros_like(x[0])
            update[:, keep] = sites.t()
            x = x + update
        outs.append(x[0])
    return outs


@pytest.mark.parametrize('backend', SPARSE_BACKENDS)
def test_sparse_backends_compute_the_v1_style_block(backend):
    torch.manual_seed(0)
    model = SparseConvNeXtV2(arch=ARCH, sparse_backend=backend, out_indices=(0, 1, 2, 3),
                             **V1_STYLE)
    model.init_weights()
    with torch.no_grad():
        for block in model.modules():
            if isinstance(block, ConvNeXtV2Block):
                block.gamma.normal_(1.0, 0.3)
    images = torch.randn(2, 3, 96, 64)
    mask = random_patch_mask(2, (3, 2), 0.5, generator=torch.Generator().manual_seed(1))
    reference = [torch.stack(o) for o in zip(*[reference_v1_encoder(model, images[i], mask[i])
                                               for i in range(2)])]
    for out, ref in zip(model(images, mask), reference):
        torch.testing.assert_close(out, ref, atol=1e-4, rtol=1e-4)


def test_pointwise_grn_statistics_can_skip_masked_sites():
    torch.manual_seed(0)
    block = ConvNeXtV2Block(4)
    with torch.no_grad():
        block.grn.gamma.normal_(0, 1)
        block.grn.beta.normal_(0, 1)
    x = torch.randn(1, 3, 3, 4)
    visible = torch.ones(1, 3, 3, 1)
    visible[0, 0] = 0
    hidden = F.gelu(block.pwconv1(block.norm(x)))
    gx = hidden[0, 1:].flatten(0, 1).norm(dim=0)  # the visible rows 1 and 2 only
    nx = gx / (gx.mean() + 1e-6)
    expected = block.pwconv2(block.grn.gamma * (hidden * nx) + block.grn.beta + hidden)
    torch.testing.assert_close(block.pointwise(x, visible), expected)
    torch.testing.assert_close(block.pointwise(x, torch.ones_like(visible)), block.pointwise(x))


def test_v1_style_fcmae_config_builds():
    cfg = Config.fromfile(osp.join(REPO, 'configs/fcmae/fcmae_convnextv2-atto-v1style_shapes.py'))
    with DefaultScope.overwrite_default_scope('mmpretrain'):  # other tests leave mmdet's
        model = MODELS.build(cfg.model)
    block = model.backbone.stages[3][1]
    assert block.grn is None and block.gamma.shape == (320, )
    assert model.neck.decoder[0].grn is not None  # the decoder stays as in the V2 run
    keys = cfg.optim_wrapper.paramwise_cfg.custom_keys
    assert keys['.gamma'] == dict(decay_mult=0.0) and 'grn' in keys
    assert cfg.train_cfg.max_epochs == 8 and cfg.model.backbone.arch == 'atto'
