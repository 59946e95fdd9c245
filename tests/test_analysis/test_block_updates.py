"""Block updates ||block(x) - x|| / ||x||: the formula, known blocks and a dense recompute."""
import numpy as np
import pytest
import torch
from torch import nn

from mmconvnextv2.analysis import block_update_ratios, relative_update
from mmconvnextv2.models import ConvNeXtV2


class Scale(nn.Module):
    """x -> factor * x: a residual block whose update is |factor - 1| of its input."""

    def __init__(self, factor: float) -> None:
        super().__init__()
        self.factor = factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.factor * x


class Wrapper(nn.Module):
    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone


def test_relative_update_is_the_norm_ratio_per_image():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(3, 4, 5, 5)), rng.normal(size=(3, 4, 5, 5))
    expected = [np.linalg.norm(y[i] - x[i]) / np.linalg.norm(x[i]) for i in range(3)]
    got = relative_update(torch.from_numpy(x), torch.from_numpy(y))
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-12)


def test_known_blocks_give_their_scale():
    backbone = nn.Module()
    backbone.stages = nn.ModuleList([nn.Sequential(Scale(2.0), Scale(1.25)),
                                     nn.Sequential(Scale(1.0))])
    backbone.forward = lambda x: backbone.stages[1](backbone.stages[0](x))
    ratios = block_update_ratios(Wrapper(backbone), torch.randn(2, 3, 4, 4))
    assert list(ratios) == ['backbone.stages.0.0', 'backbone.stages.0.1', 'backbone.stages.1.0']
    for name, value in zip(ratios, (1.0, 0.25, 0.0)):
        torch.testing.assert_close(ratios[name], torch.full((2, ), value))


def test_convnext_blocks_match_a_recompute_and_a_silenced_block_reads_zero():
    torch.manual_seed(0)
    backbone = ConvNeXtV2(arch=dict(depths=[1, 2, 1, 1], channels=[8, 16, 24, 32])).eval()
    silenced = backbone.stages[1][1]
    nn.init.zeros_(silenced.pwconv2.weight)
    nn.init.zeros_(silenced.pwconv2.bias)
    images = torch.randn(2, 3, 64, 64)
    ratios = block_update_ratios(Wrapper(backbone), images)
    assert len(ratios) == 5
    torch.testing.assert_close(ratios['backbone.stages.1.1'], torch.zeros(2))
    # The first block by hand: the stem, then the block's own residual branch.
    with torch.no_grad():
        x = backbone.downsample_layers[0](images)
        branch = backbone.stages[0][0](x) - x
    expected = branch.flatten(1).norm(dim=1) / x.flatten(1).norm(dim=1)
    torch.testing.assert_close(ratios['backbone.stages.0.0'], expected)
    assert (ratios['backbone.stages.0.0'] > 0).all()


def test_a_module_that_changes_shape_is_refused():
    backbone = nn.Module()
    backbone.stages = nn.ModuleList([nn.Sequential(nn.Conv2d(3, 5, 1))])
    backbone.forward = lambda x: backbone.stages[0](x)
    with pytest.raises(ValueError, match='not a residual block'):
        block_update_ratios(Wrapper(backbone), torch.randn(1, 3, 4, 4))
