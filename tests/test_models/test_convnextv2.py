import pytest
import torch
from torch import nn

from mmconvnextv2.models import ConvNeXtV2

TINY_ARCH = dict(depths=[1, 1, 2, 1], channels=[8, 16, 24, 32])

# Millions of parameters with a 1000-class head, as the paper and timm report them.
PAPER_PARAMS_M = dict(atto=3.71, femto=5.23, pico=9.07, nano=15.62, tiny=28.64, base=88.72,
                      large=197.96, huge=660.29)


def randomise(model: nn.Module) -> nn.Module:
    """Non-zero GRN and norm parameters, so no branch of the block is an identity."""
    torch.manual_seed(0)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if 'grn' in name or 'norm' in name:
                param.normal_(0.5 if name.endswith(('weight',)) else 0.0, 0.1)
    return model


@pytest.mark.parametrize('arch', list(PAPER_PARAMS_M))
def test_parameter_count_matches_paper(arch):
    with torch.device('meta'):
        backbone = ConvNeXtV2(arch=arch)
        head = nn.Linear(backbone.channels[-1], 1000)
    count = sum(p.numel() for module in (backbone, head) for p in module.parameters())
    assert round(count / 1e6, 2) == PAPER_PARAMS_M[arch]


def test_official_parameter_names():
    names = set(ConvNeXtV2(arch=TINY_ARCH).state_dict())
    for expected in ['downsample_layers.0.0.weight', 'downsample_layers.0.1.weight',
                     'downsample_layers.3.0.weight', 'downsample_layers.3.1.weight',
                     'stages.2.1.dwconv.weight', 'stages.2.1.norm.weight',
                     'stages.2.1.pwconv1.weight', 'stages.2.1.grn.gamma', 'stages.2.1.grn.beta',
                     'stages.2.1.pwconv2.bias', 'norm.weight', 'norm.bias']:
        assert expected in names


def test_dense_outputs_have_one_norm_each():
    model = ConvNeXtV2(arch=TINY_ARCH, out_indices=(0, 1, 2, 3), gap_before_final_norm=False)
    outs = model(torch.randn(2, 3, 64, 64))
    assert [tuple(o.shape) for o in outs] == [
        (2, 8, 16, 16), (2, 16, 8, 8), (2, 24, 4, 4), (2, 32, 2, 2)]
    assert [model.out_norm_name(i) for i in range(4)] == ['norm0', 'norm1', 'norm2', 'norm']
    # Each output map is LayerNorm-ed over channels: zero mean, unit variance per position.
    for out in outs:
        torch.testing.assert_close(out.mean(1), torch.zeros_like(out.mean(1)), atol=1e-5, rtol=0)


def test_classification_output_is_pooled_then_normalised():
    model = randomise(ConvNeXtV2(arch=TINY_ARCH)).eval()
    x = torch.randn(2, 3, 64, 64)
    (pooled,) = model(x)
    model.gap_before_final_norm = False
    (dense,) = model(x)
    assert pooled.shape == (2, 32)
    # The reference: pool the stage output, then LayerNorm the vector.
    stage_out = x
    for down, stage in zip(model.downsample_layers, model.stages):
        stage_out = stage(down(stage_out))
    expected = nn.functional.layer_norm(stage_out.mean((2, 3)), (32,), model.norm.weight,
                                        model.norm.bias, 1e-6)
    torch.testing.assert_close(pooled, expected)
    assert dense.shape == (2, 32, 2, 2)


def test_negative_out_indices_resolve_without_mutating_the_argument():
    indices = [-1, 0]
    model = ConvNeXtV2(arch=TINY_ARCH, out_indices=indices)
    assert model.out_indices == (0, 3) and indices == [-1, 0]


@pytest.mark.parametrize('kwargs, message', [
    (dict(arch='tinyy'), "Unknown ConvNeXtV2 arch 'tinyy'"),
    (dict(arch=dict(depths=[1, 1, 1], channels=[1, 2, 3])), 'needs 4 depths'),
    (dict(arch=dict(depths=[1, 1, 1, 1])), "exactly the keys 'depths' and 'channels'"),
    (dict(arch=TINY_ARCH, out_indices=4), r'out_indices must lie in \[-4, 3\]'),
    (dict(arch=TINY_ARCH, frozen_stages=5), r'frozen_stages must be in \[0, 4\]'),
])
def test_bad_arguments_name_the_problem(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ConvNeXtV2(**kwargs)


def test_every_parameter_gets_a_gradient():
    model = ConvNeXtV2(arch=TINY_ARCH, out_indices=(0, 1, 2, 3), gap_before_final_norm=False)
    model.init_weights()
    outs = model(torch.randn(2, 3, 64, 64))
    sum(o.square().mean() for o in outs).backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum()]
    assert missing == []


def test_frozen_stages_stay_frozen_after_train():
    model = ConvNeXtV2(arch=TINY_ARCH, frozen_stages=2)
    model.train()
    for i in range(4):
        frozen = i < 2
        for module in (model.downsample_layers[i], model.stages[i]):
            assert all(p.requires_grad != frozen for p in module.parameters())
            assert all(m.training != frozen for m in module.modules())
    model(torch.randn(1, 3, 64, 64))[0].sum().backward()
    assert model.stages[0][0].pwconv1.weight.grad is None
    assert model.stages[2][0].pwconv1.weight.grad is not None


@pytest.mark.parametrize('channels_last', [False, True])
def test_output_maps_are_contiguous_nchw(channels_last):
    # The blocks leave channels-last strides; mmcv's CPU RoIAlign reads raw NCHW memory and
    # returned wrong features for such maps (Mask R-CNN's box head then learned nothing).
    model = ConvNeXtV2(arch=TINY_ARCH, out_indices=(0, 1, 2, 3), gap_before_final_norm=False,
                       channels_last=channels_last)
    for out in model(torch.randn(2, 3, 64, 64)):
        assert out.is_contiguous(), out.stride()


def test_checkpointing_and_channels_last_change_nothing():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 64, 64)
    reference = randomise(ConvNeXtV2(arch=TINY_ARCH, out_indices=(1, 3)))
    state = reference.state_dict()
    results = []
    for kwargs in (dict(), dict(with_cp=True), dict(channels_last=True)):
        model = ConvNeXtV2(arch=TINY_ARCH, out_indices=(1, 3), **kwargs)
        model.load_state_dict(state)
        outs = model(x.clone())
        sum(o.sum() for o in outs).backward()
        grads = {n: p.grad for n, p in model.named_parameters()}
        results.append((outs, grads))
    for outs, grads in results[1:]:
        for out, ref in zip(outs, results[0][0]):
            torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)
        for name, grad in grads.items():
            torch.testing.assert_close(grad, results[0][1][name], atol=1e-4, rtol=1e-4)


def test_default_init_is_truncated_normal_with_zero_bias_and_zero_grn():
    torch.manual_seed(0)
    model = ConvNeXtV2(arch='atto')
    model.init_weights()
    weight = model.stages[2][0].pwconv1.weight
    assert abs(weight.std().item() - 0.02) < 0.001 and abs(weight.mean().item()) < 0.001
    assert not model.stages[2][0].pwconv1.bias.any()
    assert not model.stages[1][0].grn.gamma.any() and not model.stages[1][0].grn.beta.any()
    assert torch.equal(model.norm.weight, torch.ones(320))


def test_pretrained_init_cfg_with_prefix(tmp_path):
    source = randomise(ConvNeXtV2(arch=TINY_ARCH))
    state = {f'backbone.{k}': v for k, v in source.state_dict().items()}
    state['head.fc.weight'] = torch.zeros(3, 32)
    path = tmp_path / 'classifier.pth'
    torch.save({'state_dict': state, 'meta': {}}, path)
    model = ConvNeXtV2(arch=TINY_ARCH, init_cfg=dict(type='Pretrained', checkpoint=str(path),
                                                     prefix='backbone.'))
    model.init_weights()
    for name, value in source.state_dict().items():
        torch.testing.assert_close(model.state_dict()[name], value)


def test_compiles_without_graph_breaks():
    model = randomise(ConvNeXtV2(arch=TINY_ARCH, out_indices=(0, 3))).eval()
    x = torch.randn(2, 3, 64, 64)
    compiled = torch.compile(model, backend='eager', fullgraph=True)
    for out, ref in zip(compiled(x), model(x)):
        torch.testing.assert_close(out, ref)


def single_mode_table(depths):
    """Independent enumeration: stem 1, then each block in order; the top is sum(depths) + 1."""
    table, layer = {}, 0
    for stage, depth in enumerate(depths):
        for block in range(depth):
            layer += 1
            table[f'stages.{stage}.{block}.pwconv1.weight'] = layer
            if block == 0:
                table[f'downsample_layers.{stage}.0.weight'] = layer
    return table


def test_layer_depth_single_mode():
    model = ConvNeXtV2(arch='atto')
    for name, layer in single_mode_table(model.depths).items():
        assert model.get_layer_depth('backbone.' + name, 'backbone.') == (layer, 14)
    assert model.get_layer_depth('backbone.norm.weight', 'backbone.') == (13, 14)
    assert model.get_layer_depth('head.fc.weight', 'backbone.') == (13, 14)


def test_layer_depth_group_mode_base():
    model = ConvNeXtV2(arch=dict(depths=[3, 3, 27, 3], channels=[1, 1, 1, 1]))
    expected = {
        'downsample_layers.0.1.bias': 0, 'stages.0.2.grn.gamma': 1,
        'downsample_layers.1.1.weight': 2, 'stages.1.0.dwconv.weight': 2,
        'downsample_layers.2.0.weight': 3, 'stages.2.0.norm.bias': 3, 'stages.2.2.norm.bias': 3,
        'stages.2.3.pwconv2.weight': 4, 'stages.2.26.pwconv2.weight': 11,
        'downsample_layers.3.1.weight': 12, 'stages.3.2.pwconv1.bias': 12, 'norm.weight': 13,
    }
    for name, layer in expected.items():
        assert model.get_layer_depth(name, mode='group') == (layer, 14), name
    with pytest.raises(ValueError, match="'single', 'group'"):
        model.get_layer_depth('norm.weight', mode='blocks')


def test_without_out_norms_outputs_are_the_raw_stage_maps():
    model = randomise(ConvNeXtV2(arch=TINY_ARCH, out_indices=(1, 3), gap_before_final_norm=False,
                                 with_out_norms=False)).eval()
    assert not [name for name in model.state_dict() if name.startswith('norm')]
    image = torch.randn(1, 3, 64, 64)
    x, expected = image, []
    for down, stage in zip(model.downsample_layers, model.stages):
        x = stage(down(x))
        expected.append(x)
    outs = model(image)
    torch.testing.assert_close(outs[0], expected[1])
    torch.testing.assert_close(outs[1], expected[3])
