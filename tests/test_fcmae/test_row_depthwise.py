"""The row depthwise conv of the sparse encoder against F.conv2d on the zero-filled full map."""

import pytest
import torch
import torch.nn.functional as F

from mmconvnextv2.models.backbones import row_depthwise
from mmconvnextv2.models.backbones.row_depthwise import (fused_kernels, neighbour_rows,
                                                         row_depthwise_conv)

CHANNELS = 5


SIZE = (3, 9, 11)


def shuffled_sites(seed: int) -> torch.Tensor:
    """Flat indices of random single sites (not whole tiles) of a (3, 9, 11) map, in random order
    (the kernels take rows in any order); the second sample has none."""
    generator = torch.Generator().manual_seed(seed)
    visible = torch.rand(SIZE, generator=generator) < 0.5
    visible[1] = False
    sites = visible.flatten().nonzero().squeeze(1)
    return sites[torch.randperm(sites.numel(), generator=generator)]


def full_map_conv(x: torch.Tensor, sites: torch.Tensor, weight: torch.Tensor,
                  bias: torch.Tensor) -> torch.Tensor:
    """The reference: rows into a zero map, F.conv2d, the rows' sites read back."""
    dense = x.new_zeros(SIZE[0] * SIZE[1] * SIZE[2], x.shape[1]).index_copy(0, sites, x)
    out = F.conv2d(dense.view(*SIZE, -1).permute(0, 3, 1, 2), weight, bias,
                   padding=weight.shape[-1] // 2, groups=x.shape[1])
    return out.permute(0, 2, 3, 1).reshape(-1, x.shape[1])[sites]


@pytest.mark.parametrize('kernel_size', [7, 3])
def test_outputs_and_gradients_equal_the_full_map_conv(kernel_size):
    sites = shuffled_sites(seed=kernel_size)
    rows = sites.numel()
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(rows, CHANNELS, generator=generator, requires_grad=True)
    weight = torch.randn(CHANNELS, 1, kernel_size, kernel_size, generator=generator,
                         requires_grad=True)
    bias = torch.randn(CHANNELS, generator=generator, requires_grad=True)
    grad = torch.randn(rows, CHANNELS, generator=generator)

    out = row_depthwise_conv(x, weight, bias, neighbour_rows(sites, SIZE, kernel_size),
                             fused_kernels('cpu'))
    grads = torch.autograd.grad(out, (x, weight, bias), grad)
    ref = full_map_conv(x, sites, weight, bias)
    ref_grads = torch.autograd.grad(ref, (x, weight, bias), grad)
    # float32 sums of up to 49 (outputs, input gradients) or ~150 (weight gradients) products of
    # N(0, 1) numbers in another order: rounding differences of order 1e-6 relative to the sums.
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    for name, value, expected in zip(('x', 'weight', 'bias'), grads, ref_grads):
        torch.testing.assert_close(value, expected, rtol=1e-5, atol=1e-4, msg=name)


def test_neighbours_are_symmetric_and_point_masked_sites_at_the_zero_row():
    sites = shuffled_sites(seed=2)
    index = neighbour_rows(sites, SIZE, 7).index.long()
    rows = index.shape[0]
    present = index < rows
    r, k = present.nonzero().unbind(1)
    assert torch.equal(index[index[r, k], 48 - k], r)
    # A visible site's own tap (the centre) is itself; the empty sample has no rows at all.
    assert torch.equal(index[:, 24], torch.arange(rows))
    assert rows == sites.numel()
    # Taps that leave the image: sites in the map's first 3 rows have no neighbour 3 rows up.
    y = sites % (SIZE[1] * SIZE[2]) // SIZE[2]
    assert bool((index[y < 3, :7] == rows).all())


def test_autocast_gives_the_dtype_and_values_of_a_bf16_conv():
    sites = shuffled_sites(seed=3)
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(sites.numel(), CHANNELS, generator=generator)
    weight = torch.randn(CHANNELS, 1, 7, 7, generator=generator)
    bias = torch.randn(CHANNELS, generator=generator)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = row_depthwise_conv(x, weight, bias, neighbour_rows(sites, SIZE, 7),
                                 fused_kernels('cpu'))
    assert out.dtype == torch.bfloat16
    # The same bf16 inputs summed in float32: the outputs differ by the bf16 rounding of the
    # result (relative 2**-8) and of the sum's accumulator.
    x, weight, bias = (t.bfloat16().float() for t in (x, weight, bias))
    ref = full_map_conv(x, sites, weight, bias)
    torch.testing.assert_close(out.float(), ref, rtol=2**-7, atol=2**-6)


def test_a_failing_compile_is_logged_and_gives_no_kernels(monkeypatch, mmengine_warnings):
    def unavailable(*args, **kwargs):
        raise RuntimeError('no C++ compiler found')

    monkeypatch.setattr(row_depthwise.torch, 'compile', unavailable)
    # Past the cache, which holds the compiled kernels of the other tests.
    assert fused_kernels.__wrapped__('cpu') is None
    [warning] = mmengine_warnings
    assert 'no C++ compiler found' in warning and 'zero-filled full map' in warning
