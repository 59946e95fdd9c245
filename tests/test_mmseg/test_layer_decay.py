"""Layer-wise lr decay on UperNet segmentors built from our configs in the mmseg scope: the lr
scale and weight decay of every parameter, against the official ConvNeXt V2 layer ids written
out here."""
import os.path as osp
import re

import pytest
import torch
from mmengine import Config, DefaultScope
from mmengine.optim import build_optim_wrapper
from mmengine.optim.scheduler import LinearLR
from mmseg.registry import MODELS
from mmseg.utils import register_all_modules

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
UPERNET = osp.join(REPO, 'configs/upernet/convnextv2-{}_upernet_8xb2-160k_ade20k-512x512.py')
WEIGHT_DECAY = 0.05

register_all_modules(init_default_scope=False)


def single_layer_id(name: str, depths: list[int]) -> int:
    """Official 'single' ids: one per block, the stem 1; a downsampling layer shares the id of
    the first block after it; everything outside the stages (heads, output norms) is on top."""
    match = re.match(r'backbone\.(downsample_layers|stages)\.(\d+)\.(\d+)\.', name)
    if match is None:
        return sum(depths) + 1
    kind, stage, index = match.group(1), int(match.group(2)), int(match.group(3))
    first = sum(depths[:stage]) + 1
    return first if kind == 'downsample_layers' else first + index


def group_layer_id(name: str) -> int:
    """Official 12-group ids for base/large/huge (depths 3, 3, 27, 3)."""
    match = re.match(r'backbone\.(downsample_layers|stages)\.(\d+)\.(\d+)\.', name)
    if match is None:
        return 13
    kind, stage, index = match.group(1), int(match.group(2)), int(match.group(3))
    if kind == 'downsample_layers':
        return {0: 0, 1: 2, 2: 3, 3: 12}[stage]
    return {0: 1, 1: 2, 2: 3 + index // 3, 3: 12}[stage]


def no_weight_decay(name: str, model: torch.nn.Module) -> bool:
    """GRN (official issue #15), every norm (LayerNorm, BatchNorm) and every bias."""
    module_name, _, param_name = name.rpartition('.')
    module = model.get_submodule(module_name)
    is_norm = isinstance(module, (torch.nn.LayerNorm, torch.nn.modules.batchnorm._BatchNorm)) \
        or type(module).__name__ in ('GRN', 'LayerNorm2d')
    return is_norm or param_name == 'bias'


def build(size: str, device: str) -> tuple:
    cfg = Config.fromfile(UPERNET.format(size))
    with DefaultScope.overwrite_default_scope('mmseg'), torch.device(device):
        model = MODELS.build(cfg.model)
        optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    return cfg, model, optim_wrapper


def lr_of_each_parameter(optim_wrapper) -> dict[str, dict]:
    by_name = {}
    for group in optim_wrapper.optimizer.param_groups:
        assert len(group['params']) == len(group['param_names'])
        for name in group['param_names']:
            assert name not in by_name, f'{name} is in two groups'
            by_name[name] = group
    return by_name


@pytest.mark.parametrize('size,device', [('atto', 'cpu'), ('base', 'meta')])
def test_every_parameter_gets_the_official_lr_scale_and_weight_decay(size, device):
    cfg, model, optim_wrapper = build(size, device)
    base_lr = cfg.optim_wrapper.optimizer.lr
    rate = cfg.optim_wrapper.paramwise_cfg.layer_decay_rate
    mode = cfg.optim_wrapper.paramwise_cfg.layer_decay_mode
    depths = model.backbone.depths
    if mode == 'single':
        num_layers = sum(depths) + 2
        layer_id = lambda name: single_layer_id(name, depths)  # noqa: E731
    else:
        num_layers = 14
        layer_id = group_layer_id

    groups = lr_of_each_parameter(optim_wrapper)
    names = [name for name, param in model.named_parameters() if param.requires_grad]
    assert sorted(groups) == sorted(names)  # each trainable parameter in exactly one group
    seen_ids = set()
    for name in names:
        expected_scale = rate**(num_layers - 1 - layer_id(name))
        group = groups[name]
        assert group['lr_scale'] == pytest.approx(expected_scale, rel=1e-12), name
        assert group['lr'] == pytest.approx(base_lr * expected_scale, rel=1e-12), name
        expected_wd = 0.0 if no_weight_decay(name, model) else WEIGHT_DECAY
        assert group['weight_decay'] == expected_wd, name
        seen_ids.add(layer_id(name))
    assert seen_ids == set(range(1 if mode == 'single' else 0, num_layers))

    # The heads learn at the full rate, the stem at rate ** (num_layers - 1 - stem id).
    assert groups['decode_head.conv_seg.weight']['lr'] == pytest.approx(base_lr)
    assert groups['auxiliary_head.conv_seg.weight']['lr'] == pytest.approx(base_lr)
    stem_id = 1 if mode == 'single' else 0
    assert groups['backbone.downsample_layers.0.0.weight']['lr'] == \
        pytest.approx(base_lr * rate**(num_layers - 1 - stem_id))


def test_warm_up_keeps_the_scale_of_each_group():
    _, _, optim_wrapper = build('atto', 'cpu')
    scheduler = LinearLR(optim_wrapper, start_factor=1e-6, by_epoch=False, begin=0, end=1500)
    for _ in range(750):
        scheduler.step()
    groups = optim_wrapper.optimizer.param_groups
    # Half-way through the warm-up every group is at about half its own lr ...
    factors = [group['lr'] / group['initial_lr'] for group in groups]
    assert factors == pytest.approx([factors[0]] * len(groups), rel=1e-9)
    assert factors[0] == pytest.approx(0.5, abs=0.01)
    # ... which is still the base lr times the group's layer scale.
    for group in groups:
        assert group['initial_lr'] == pytest.approx(2e-4 * group['lr_scale'], rel=1e-12)
