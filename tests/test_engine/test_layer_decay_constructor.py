"""Layer-wise lr decay: every parameter's lr scale and weight decay against the official rules.

The reference below is written from the official recipe (facebookresearch/ConvNeXt-V2
optim_factory.py, as summarised in ../shared/paper.md), on the official parameter names, without
calling the backbone's ``get_layer_depth`` or the constructor's grouping.
"""
import re

import pytest
import torch
from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS
from torch import nn

from mmconvnextv2.engine import LayerDecayOptimWrapperConstructor
from mmconvnextv2.registry import MODELS

DEPTHS = {'atto': [2, 2, 6, 2], 'base': [3, 3, 27, 3]}
WIDTHS = {'atto': 320, 'base': 1024}


def reference_layer_id(name: str, depths: list[int], mode: str) -> tuple[int, int]:
    """(layer id, number of layers L) of an official name; its scale is rate ** (L + 1 - id)."""
    parts = name.split('.')
    if mode == 'single':
        num_layers = sum(depths)
        if parts[0] == 'downsample_layers':
            return sum(depths[:int(parts[1])]) + 1, num_layers
        if parts[0] == 'stages':
            return sum(depths[:int(parts[1])]) + int(parts[2]) + 1, num_layers
        return num_layers + 1, num_layers
    # 'group': 12 groups, stage 2 split every 3 blocks.
    group_of_downsample = {0: 0, 1: 2, 2: 3, 3: 12}
    if parts[0] == 'downsample_layers':
        return group_of_downsample[int(parts[1])], 12
    if parts[0] == 'stages':
        stage, block = int(parts[1]), int(parts[2])
        return {0: 1, 1: 2, 2: 3 + block // 3, 3: 12}[stage], 12
    return 13, 12


def reference_weight_decay(name: str, shape: torch.Size, weight_decay: float) -> float:
    """Official rule: no decay on 1-D tensors, biases and GRN gamma/beta."""
    if len(shape) == 1 or name.endswith(('.bias', '.gamma', '.beta')):
        return 0.0
    return weight_decay


def classifier(arch: str) -> nn.Module:
    return MODELS.build(dict(
        type='ImageClassifier',
        backbone=dict(type='mmconvnextv2.ConvNeXtV2', arch=arch),
        head=dict(type='mmconvnextv2.ConvNeXtV2ClsHead', num_classes=10,
                  in_channels=WIDTHS[arch])))


def groups_of(model: nn.Module, rate: float, mode: str, lr: float = 1e-3,
              weight_decay: float = 0.05) -> list[dict]:
    constructor = OPTIM_WRAPPER_CONSTRUCTORS.build(dict(
        type='mmconvnextv2.LayerDecayOptimWrapperConstructor',
        optim_wrapper_cfg=dict(optimizer=dict(type='AdamW', lr=lr, weight_decay=weight_decay)),
        paramwise_cfg=dict(layer_decay_rate=rate, layer_decay_mode=mode)))
    return constructor(model).optimizer.param_groups


def print_groups(title: str, groups: list[dict]) -> None:
    print(f'\n{title}: {len(groups)} groups')
    print(f'{"layer":>5} {"lr_scale":>12} {"weight_decay":>12} {"tensors":>7}  first')
    for group in groups:
        print(f'{group["layer_id"]:>5} {group["lr_scale"]:>12.6g} {group["weight_decay"]:>12g} '
              f'{len(group["params"]):>7}  {group["param_names"][0]}')


@pytest.mark.parametrize('arch, rate, mode, num_groups', [
    ('atto', 0.9, 'single', 2 * (sum(DEPTHS['atto']) + 1)),  # ids 1..13, decayed or not
    ('base', 0.6, 'group', 2 * 14),  # ids 0..13
])
def test_every_parameter_matches_the_official_rules(arch, rate, mode, num_groups):
    lr, weight_decay = 2e-3, 0.05
    model = classifier(arch) if arch == 'atto' else None
    if model is None:
        with torch.device('meta'):  # base: 89M parameters, only their names and shapes matter
            model = classifier(arch)
    groups = groups_of(model, rate, mode, lr, weight_decay)
    print_groups(f'{arch}, rate {rate}, mode {mode!r}', groups)
    assert len(groups) == num_groups

    group_of: dict[int, dict] = {id(p): g for g in groups for p in g['params']}
    checked = 0
    for name, param in model.named_parameters():
        group = group_of[id(param)]
        # Official names: ours without 'backbone.'; the head and the final norm get the top id.
        official = name[len('backbone.'):] if name.startswith('backbone.') else name
        layer_id, num_layers = reference_layer_id(official, DEPTHS[arch], mode)
        expected_scale = rate**(num_layers + 1 - layer_id)
        assert group['lr_scale'] == pytest.approx(expected_scale, rel=1e-12), name
        assert group['lr'] == pytest.approx(lr * expected_scale, rel=1e-12), name
        assert group['weight_decay'] == reference_weight_decay(name, param.shape, weight_decay), \
            name
        checked += 1
    assert checked == sum(len(g['params']) for g in groups)


def test_group_mode_matches_the_official_table_at_its_corners():
    # Spot values of the official 12-group split, rate 0.6: stem 0.6**13, head 1.
    with torch.device('meta'):
        model = classifier('base')
    groups = groups_of(model, 0.6, 'group')
    scale = {name: g['lr_scale'] for g in groups for name in g['param_names']}
    assert scale['backbone.downsample_layers.0.0.weight'] == pytest.approx(0.6**13)
    assert scale['backbone.stages.0.2.pwconv1.weight'] == pytest.approx(0.6**12)
    assert scale['backbone.downsample_layers.2.1.weight'] == pytest.approx(0.6**10)
    assert scale['backbone.stages.2.26.grn.gamma'] == pytest.approx(0.6**(13 - 11))
    assert scale['backbone.downsample_layers.3.1.weight'] == pytest.approx(0.6)
    assert scale['head.fc.weight'] == scale['backbone.norm.weight'] == 1.0


def test_rate_one_is_a_single_lr_with_the_no_decay_rule():
    groups = groups_of(classifier('atto'), 1.0, 'single', lr=4e-3)
    assert {g['lr'] for g in groups} == {4e-3}
    no_decay = {n for g in groups if g['weight_decay'] == 0.0 for n in g['param_names']}
    assert 'backbone.stages.1.0.grn.gamma' in no_decay and 'head.fc.bias' in no_decay
    assert 'backbone.stages.1.0.pwconv1.weight' not in no_decay


def test_frozen_parameters_are_left_out():
    model = MODELS.build(dict(type='mmconvnextv2.ConvNeXtV2', arch='atto', frozen_stages=1))
    groups = groups_of(nn.ModuleDict(dict(backbone=model)), 0.9, 'single')
    names = {n for g in groups for n in g['param_names']}
    assert not any(n.startswith(('backbone.stages.0.', 'backbone.downsample_layers.0.'))
                   for n in names)
    assert 'backbone.stages.1.0.dwconv.weight' in names


@pytest.mark.parametrize('paramwise_cfg, message', [
    (dict(layer_decay_rate=0.9, decay_mult=0.5), "does not know paramwise_cfg keys ['decay_mult']"),
    (dict(), 'needs layer_decay_rate'),
    (dict(layer_decay_rate=1.5), 'must be in (0, 1]'),
    (dict(layer_decay_rate=0.9, layer_decay_mode='blocks'), "layer_decay_mode must be one of"),
])
def test_bad_paramwise_cfg_is_refused(paramwise_cfg, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        LayerDecayOptimWrapperConstructor(dict(optimizer=dict(type='AdamW', lr=1e-3)),
                                          paramwise_cfg)


def test_optimizer_needs_an_lr_and_keeps_its_default_weight_decay():
    with pytest.raises(ValueError, match='set optimizer.lr'):
        LayerDecayOptimWrapperConstructor(dict(optimizer=dict(type='AdamW')),
                                          dict(layer_decay_rate=0.9))
    # Without weight_decay in the config, decayed groups get AdamW's default (0.01), the others 0.
    constructor = LayerDecayOptimWrapperConstructor(dict(optimizer=dict(type='AdamW', lr=1e-3)),
                                                    dict(layer_decay_rate=0.9))
    groups = constructor(classifier('atto')).optimizer.param_groups
    decay = {n: g['weight_decay'] for g in groups for n in g['param_names']}
    assert decay['backbone.stages.0.0.pwconv1.weight'] == 0.01
    assert decay['backbone.stages.0.0.pwconv1.bias'] == 0.0


def test_backbone_without_get_layer_depth_is_refused():
    constructor = LayerDecayOptimWrapperConstructor(
        dict(optimizer=dict(type='AdamW', lr=1e-3)), dict(layer_decay_rate=0.9))
    with pytest.raises(TypeError, match='needs a backbone with get_layer_depth'):
        constructor(nn.ModuleDict(dict(backbone=nn.Linear(2, 2))))
    with pytest.raises(AttributeError, match="has no 'backbone'"):
        constructor(nn.Linear(2, 2))


def test_scoped_name_resolves_from_mmengine_and_mmpretrain():
    # How runners build it: mmengine's root (or mmpretrain's registry, the configs' default
    # scope) finds 'mmconvnextv2.<Name>' in our child registry, whose location is the engine.
    from mmpretrain.registry import OPTIM_WRAPPER_CONSTRUCTORS as MMPRETRAIN_CONSTRUCTORS

    from mmconvnextv2.registry import OPTIM_WRAPPER_CONSTRUCTORS as OURS
    name = 'mmconvnextv2.LayerDecayOptimWrapperConstructor'
    assert OURS.parent is OPTIM_WRAPPER_CONSTRUCTORS and OURS.scope == 'mmconvnextv2'
    assert OPTIM_WRAPPER_CONSTRUCTORS.get(name) is LayerDecayOptimWrapperConstructor
    assert MMPRETRAIN_CONSTRUCTORS.get(name) is LayerDecayOptimWrapperConstructor
