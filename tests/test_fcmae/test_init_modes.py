"""FCMAE's ``init_mode``: std 0.02 everywhere, or the official ``models/fcmae.py`` initialisation.

The expected distributions are written from the official code, layer by layer (see
``expected_init`` below), not taken from the implementation.
"""
import math

import pytest
import torch
from torch import nn

from mmconvnextv2.models import FCMAE
from mmconvnextv2.models.layers import GRN
from mmconvnextv2.registry import MODELS


def build(init_mode: str, **kwargs) -> FCMAE:
    torch.manual_seed(0)
    model = MODELS.build(dict(
        type='mmconvnextv2.FCMAE',
        backbone=dict(type='mmconvnextv2.SparseConvNeXtV2', arch='atto', sparse_backend='gather'),
        neck=dict(type='mmconvnextv2.FCMAEDecoder', in_channels=320, embed_dim=512, depth=1),
        head=dict(type='mmconvnextv2.FCMAEReconstructionHead', patch_size=32, norm_pix=True),
        init_mode=init_mode, **kwargs))
    model.init_weights()
    return model


def truncated_std(std: float, bound: float = 2.0) -> float:
    """Standard deviation of N(0, std^2) truncated to [-bound, bound]."""
    z = bound / std
    pdf = math.exp(-z * z / 2) / math.sqrt(2 * math.pi)
    mass = math.erf(z / math.sqrt(2))
    return std * math.sqrt(1 - 2 * z * pdf / mass)


def expected_init(name: str, fan_in: int) -> tuple[str, float]:
    """(distribution, std) of a weight under the official FCMAE._init_weights.

    Encoder: MinkowskiConvolution (the downsampling convs) std 0.02; MinkowskiDepthwiseConvolution,
    MinkowskiLinear and nn.Conv2d (stem) timm's trunc_normal_ default, std 1 on [-2, 2].
    Decoder: nn.Conv2d (proj, dwconv, pred) std 1 on [-2, 2]; nn.Linear untouched by
    _init_weights, so PyTorch's default: uniform on +-1/sqrt(fan_in); mask token normal_ std 0.02.
    """
    if name.startswith('backbone.downsample_layers.') and not name.startswith(
            'backbone.downsample_layers.0.'):
        return 'truncated', 0.02
    if name.startswith('neck.decoder.') and '.pwconv' in name:
        return 'uniform', 1 / math.sqrt(3 * fan_in)
    return 'truncated', truncated_std(1.0)


def weights(model: FCMAE) -> dict[str, torch.Tensor]:
    """Every conv and linear weight (ndim >= 2) of the encoder and the decoder."""
    return {name: p.detach() for name, p in model.named_parameters()
            if name.endswith('.weight') and p.ndim >= 2}


def assert_std(values: torch.Tensor, std: float, name: str) -> None:
    # The sample std of n draws has a relative standard error of about 1 / sqrt(2 n) for a normal
    # (less for these lighter-tailed distributions); 6 of them make a false failure negligible.
    tolerance = 6 / math.sqrt(2 * values.numel())
    assert values.std().item() == pytest.approx(std, rel=tolerance), name


def test_default_mode_is_std_002_everywhere():
    model = build('default')
    for name, value in weights(model).items():
        assert_std(value, truncated_std(0.02), name)
    assert_std(model.neck.mask_token, 0.02, 'mask_token')


def test_official_mode_matches_the_official_init():
    model = build('official')
    for name, value in weights(model).items():
        kind, std = expected_init(name, fan_in=value[0].numel())
        assert_std(value, std, name)
        if kind == 'truncated':
            assert value.abs().max() <= 2.0, name
        else:
            assert value.abs().max() <= math.sqrt(3) * std, name
    assert_std(model.neck.mask_token, 0.02, 'mask_token')
    for name, layer in model.named_modules():
        if isinstance(layer, (nn.Conv2d, nn.Linear)):
            if expected_init(f'{name}.weight', layer.weight[0].numel())[0] == 'uniform':
                # nn.Linear's default bias: uniform on +-1/sqrt(fan_in), not zero
                assert layer.bias.any(), name
                assert layer.bias.abs().max() <= 1 / math.sqrt(layer.weight[0].numel()), name
            else:
                assert not layer.bias.any(), name
        elif isinstance(layer, GRN):  # the identity, as constructed
            assert not layer.gamma.any() and not layer.beta.any(), name


def test_official_mode_changes_the_scale_of_the_encoder_output():
    """Std-1 kernels make the (un-normalised) encoder output far larger than std 0.02 does."""
    images = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    mask = torch.zeros(2, 2, 2)
    stds = {mode: build(mode).backbone(images, mask)[-1].std().item()
            for mode in ('default', 'official')}
    assert stds['official'] > 100 * stds['default']


def test_bad_init_mode():
    with pytest.raises(ValueError, match='init_mode'):
        build('timm')


def test_official_mode_refuses_an_init_cfg():
    with pytest.raises(ValueError, match='init_cfg'):
        build('official', init_cfg=dict(type='Pretrained', checkpoint='fcmae.pth'))
