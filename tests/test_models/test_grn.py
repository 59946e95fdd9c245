import warnings

import pytest
import torch

from mmconvnextv2.models import GRN


def reference_grn(x_nhwc: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor,
                  eps: float = 1e-6) -> torch.Tensor:
    """The paper's formula written out per sample and channel in float64."""
    x = x_nhwc.double()
    n, h, w, c = x.shape
    out = torch.empty_like(x)
    for i in range(n):
        gx = torch.stack([x[i, :, :, k].pow(2).sum().sqrt() for k in range(c)])
        nx = gx / (gx.mean() + eps)
        for k in range(c):
            out[i, :, :, k] = gamma[k] * x[i, :, :, k] * nx[k] + beta[k] + x[i, :, :, k]
    return out


def randomised_grn(channels: int, layout: str) -> GRN:
    grn = GRN(channels, layout=layout)
    with torch.no_grad():
        grn.gamma.normal_()
        grn.beta.normal_()
    return grn


def test_fresh_grn_is_identity_with_zero_parameters():
    grn = GRN(8)
    assert grn.gamma.shape == grn.beta.shape == (8,)
    assert torch.count_nonzero(grn.gamma) == 0 and torch.count_nonzero(grn.beta) == 0
    x = torch.randn(2, 5, 5, 8)
    torch.testing.assert_close(grn(x), x)


def test_channels_last_matches_formula():
    torch.manual_seed(0)
    grn = randomised_grn(6, 'channels_last')
    x = torch.randn(3, 4, 5, 6)
    expected = reference_grn(x, grn.gamma.detach().double(), grn.beta.detach().double())
    torch.testing.assert_close(grn(x).double(), expected, atol=1e-5, rtol=1e-5)


def test_channels_first_matches_formula():
    torch.manual_seed(1)
    grn = randomised_grn(6, 'channels_first')
    x = torch.randn(3, 6, 4, 5)
    expected = reference_grn(x.permute(0, 2, 3, 1), grn.gamma.detach().double(),
                             grn.beta.detach().double()).permute(0, 3, 1, 2)
    torch.testing.assert_close(grn(x).double(), expected, atol=1e-5, rtol=1e-5)


def test_statistics_are_per_sample():
    torch.manual_seed(2)
    grn = randomised_grn(4, 'channels_last')
    x = torch.randn(2, 3, 3, 4)
    batched = grn(x)
    torch.testing.assert_close(batched[1:], grn(x[1:]))
    torch.testing.assert_close(batched[:1], grn(x[:1]))


def test_unknown_layout_is_rejected():
    with pytest.raises(ValueError, match="channels_last.*channels_first.*'nhwc'"):
        GRN(4, layout='nhwc')


def cpu_autocast_takes(dtype: torch.dtype) -> bool:
    """Whether this torch autocasts to ``dtype`` on the CPU (torch 2.1: bfloat16 only)."""
    with warnings.catch_warnings():
        # torch 2.1 warns that it disables autocast, then refuses to enter it.
        warnings.simplefilter('ignore')
        try:
            with torch.autocast('cpu', dtype=dtype):
                return True
        except RuntimeError:
            return False


@pytest.mark.parametrize('dtype', [
    pytest.param(torch.float16, marks=pytest.mark.skipif(
        not cpu_autocast_takes(torch.float16),
        reason='needs float16 autocast on the CPU, which this torch lacks (torch 2.1 autocasts '
               'the CPU to bfloat16 only)')),
    torch.bfloat16])
def test_large_activations_stay_finite_under_autocast(dtype):
    """Official issue #66: the squared sum of fp16 activations near 6e4 overflows."""
    torch.manual_seed(3)
    grn = GRN(16)
    with torch.no_grad():
        grn.gamma.fill_(1e-3)
    x = torch.full((1, 14, 14, 16), 6e4)
    x[..., 1::2] = -6e4
    x = x.to(dtype)
    if dtype == torch.float16:
        # What the fp32 accumulation avoids: the squared sum overflows in half precision.
        assert torch.isinf(x.pow(2).sum(dim=(1, 2))).all()
    with torch.autocast('cpu', dtype=dtype):
        out = grn(x)
    assert out.dtype == dtype
    assert torch.isfinite(out).all()
    expected = reference_grn(x.float(), grn.gamma.detach().double(), grn.beta.detach().double())
    torch.testing.assert_close(out.double(), expected, rtol=1e-2, atol=0)


@pytest.mark.parametrize('dtype, autocast', [(torch.float16, False), (torch.bfloat16, True)])
def test_fp16_range_map_matches_float32(dtype, autocast):
    """Activations of 1000-2000 on a 64x64 map: each fits fp16, but a channel's L2 norm (~1e5) is
    beyond fp16's 65504, so a norm computed in fp16 is inf and Nx NaN (official issue #66)."""
    torch.manual_seed(4)
    grn = randomised_grn(8, 'channels_last')
    x = (torch.rand(2, 64, 64, 8) * 1000 + 1000) * torch.randn(2, 64, 64, 8).sign()
    x[..., 0] /= 4  # uneven channel norms, so that Nx is not all ones
    low = x.to(dtype)
    assert torch.isinf(torch.linalg.vector_norm(low.half(), dim=(1, 2))[:, 1:]).all()
    expected = grn(low.float())
    with torch.autocast('cpu', dtype=torch.bfloat16, enabled=autocast):
        out = grn(low)
    assert out.dtype == dtype and torch.isfinite(out).all()
    # The factor and the product are each rounded to dtype: up to two units of its 8 (bf16) or 11
    # (fp16) significant bits. No output is near zero, so the tolerance is relative.
    assert expected.abs().min() > 100
    rtol = 2**-6 if dtype == torch.bfloat16 else 2**-9
    torch.testing.assert_close(out.float(), expected, rtol=rtol, atol=0)
