"""A KxK depthwise convolution computed on the visible rows only, with a neighbour index.

The sparse encoder keeps a stage's visible sites as rows (R, C). For a depthwise conv
(cross-correlation, zero padding, stride 1) each output row is

    out[r] = bias + sum_k taps[k] * x[nbr[r, k]],

where ``nbr[r, k]`` is the row of the site at tap ``k``'s offset from row ``r``, or the sentinel
``R`` (a zero row) where that site is masked or outside the image. The index is built once per
stage and shared by its blocks; work and memory are proportional to R, not to the full map.

The neighbour relation is symmetric (``nbr[r, k] = s`` exactly when ``nbr[s, K*K-1-k] = r``), so the
input gradient is the same tap sum with the taps mirrored; the weight gradient is
``sum_r grad[r] * x[nbr[r, k]]``. Both run as ``torch.compile``-d (inductor) kernels that never
materialise the (R, K*K, C) gathered taps; compiled once with dynamic shapes, as R changes with
every mask. Eager, the gather materialises them and is 4-12x slower than the full-map conv on CPU,
so where compiling fails the encoder falls back to the full-map conv (:func:`fused_kernels`).
"""
import functools
import logging
from collections.abc import Callable
from typing import NamedTuple

import torch
import torch.nn.functional as F
from mmengine.logging import print_log
from torch.autograd.function import once_differentiable

from mmconvnextv2.utils.torch_compat import autocast_state

# Rows per partial sum of the weight gradient: a block's gathered taps stay in cache, and the
# (R / 64, K*K, C) partial sums are small.
_WEIGHT_GRAD_BLOCK = 64


class Neighbours(NamedTuple):
    """The neighbour index of a stage's visible rows (:func:`neighbour_rows`).

    Attributes:
        index: (R, K*K) int32: for row r and tap ``k = dy * K + dx``, the row of the site at
            offset ``(dy - K // 2, dx - K // 2)``, or R where that site is masked or outside the
            image.
        blocks: The same memory as (B, 64, K*K), B = ceil(R / 64), the padding rows all R: the
            row blocks of :func:`tap_weight_grad`.
    """

    index: torch.Tensor
    blocks: torch.Tensor


def neighbour_rows(sites: torch.Tensor, size: tuple[int, int, int],
                   kernel_size: int) -> Neighbours:
    """The neighbour index of the visible sites of a stage.

    Args:
        sites: (R,) the visible sites as flat indices into the (N, H, W) map, one per row, in
            any order.
        size: (N, H, W).
        kernel_size: K of the KxK depthwise conv.
    """
    n, h, w = size
    pad = kernel_size // 2
    # Flat indices into the zero-padded (N, H + 2p, W + 2p) map, whose border is never a row.
    sample, place = sites // (h * w), sites % (h * w)
    padded = (sample * (h + 2 * pad) + place // w + pad) * (w + 2 * pad) + place % w + pad
    rows = sites.numel()
    row_of = torch.full((n * (h + 2 * pad) * (w + 2 * pad), ), rows, dtype=torch.int32,
                        device=sites.device)
    row_of[padded] = torch.arange(rows, dtype=torch.int32, device=sites.device)
    steps = torch.arange(kernel_size, device=sites.device) - pad
    offsets = (steps[:, None] * (w + 2 * pad) + steps[None, :]).flatten()
    blocks = -(-rows // _WEIGHT_GRAD_BLOCK)
    fill = blocks * _WEIGHT_GRAD_BLOCK - rows
    index = F.pad(row_of[padded[:, None] + offsets], (0, 0, 0, fill), value=rows)
    return Neighbours(index[:rows], index.view(blocks, _WEIGHT_GRAD_BLOCK, kernel_size**2))


def _with_zero_row(x: torch.Tensor) -> torch.Tensor:
    """(R, C) rows and the zero row R that the sentinel index points at."""
    return torch.cat([x, x.new_zeros(1, x.shape[1])])


def tap_sum(x: torch.Tensor, index: torch.Tensor, taps: torch.Tensor) -> torch.Tensor:
    """``out[r] = sum_k taps[k] * x[index[r, k]]`` for rows x (R, C), taps (K*K, C)."""
    return (_with_zero_row(x)[index] * taps).sum(1)


def tap_weight_grad(x: torch.Tensor, grad: torch.Tensor, blocks: torch.Tensor) -> torch.Tensor:
    """``sum_r grad[r] * x[index[r, k]]``, (K*K, C): the gradient of :func:`tap_sum`'s taps.

    ``grad`` (B, 64, C) and ``blocks`` (B, 64, K*K) hold the rows in blocks
    (:attr:`Neighbours.blocks`), ``grad`` zero in the padding. Summed per block first: one
    reduction over all R rows per tap would stream x and ``grad`` K*K times through memory.
    """
    return (_with_zero_row(x)[blocks] * grad[:, :, None, :]).sum(1).sum(0)


class TapKernels(NamedTuple):
    """The two kernels of the row depthwise conv: :func:`tap_sum` and :func:`tap_weight_grad`."""

    tap_sum: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
    tap_weight_grad: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def _compiled_kernels(device_type: str) -> TapKernels:
    """Both kernels compiled with dynamic shapes and run once, so that a failure shows here."""
    kernels = TapKernels(torch.compile(tap_sum, dynamic=True),
                         torch.compile(tap_weight_grad, dynamic=True))
    # As the autograd function calls them: without grad mode, and no size 0 or 1, which dynamo
    # would specialise on.
    with torch.no_grad():
        # 81 rows: two row blocks.
        neighbours = neighbour_rows(torch.arange(81, device=device_type), (1, 9, 9), 7)
        # Fixed inputs, not torch.randn: the first call comes mid-run (e.g. the first step after a
        # resume), where a draw from the global generator would change the run's random stream.
        x = torch.ones(81, 3, device=device_type)
        kernels.tap_sum(x, neighbours.index, torch.ones(49, 3, device=device_type))
        grad = torch.ones(neighbours.blocks.shape[:2] + (3, ), device=device_type)
        kernels.tap_weight_grad(x, grad, neighbours.blocks)
    return kernels


@functools.cache
def fused_kernels(device_type: str) -> TapKernels | None:
    """The compiled kernels for ``device_type``, or None (logged once) where compiling fails."""
    try:
        return _compiled_kernels(device_type)
    except (RuntimeError, OSError) as error:
        print_log(f'SparseConvNeXtV2: torch.compile of the row depthwise conv failed on '
                  f'{device_type} ({type(error).__name__}: {str(error).splitlines()[0]}); its '
                  'depthwise convs run on the zero-filled full map instead (exact, slower). '
                  'torch.compile needs a C++ compiler on CPU, triton on CUDA.',
                  logger='current', level=logging.WARNING)
        return None


class _RowDepthwise(torch.autograd.Function):
    """:func:`tap_sum` with its backward through the same kernels."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, taps: torch.Tensor, neighbours: Neighbours,
                kernels: TapKernels) -> torch.Tensor:
        # Detached: the kernels then see the same guards in forward and backward.
        x, taps = x.detach(), taps.detach()
        ctx.save_for_backward(x, taps, *neighbours)
        ctx.kernels = kernels
        return kernels.tap_sum(x, neighbours.index, taps)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        x, taps, index, blocks = ctx.saved_tensors
        grad_x = grad_taps = None
        if ctx.needs_input_grad[0]:
            # Mirrored taps: the input gradient gathers the output gradient as the forward
            # gathers x (the neighbour relation is symmetric).
            grad_x = ctx.kernels.tap_sum(grad.contiguous(), index, taps.flip(0))
        if ctx.needs_input_grad[1]:
            fill = blocks.shape[0] * blocks.shape[1] - grad.shape[0]
            grad = F.pad(grad, (0, 0, 0, fill)).view(*blocks.shape[:2], grad.shape[1])
            grad_taps = ctx.kernels.tap_weight_grad(x, grad, blocks)
        return grad_x, grad_taps, None, None


def row_depthwise_conv(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                       neighbours: Neighbours, kernels: TapKernels) -> torch.Tensor:
    """A depthwise ``nn.Conv2d``'s output at the visible rows.

    Args:
        x: Visible rows (R, C) of the input map, the others being zero.
        weight: The conv's (C, 1, K, K) weight.
        bias: Its (C,) bias, or None.
        neighbours: The rows' :func:`neighbour_rows`.
        kernels: :func:`fused_kernels`.

    Returns:
        (R, C): ``F.conv2d(map, weight, bias, padding=K // 2, groups=C)`` at the visible sites,
        under autocast in the dtype that conv would have.
    """
    taps = weight.flatten(1).t().contiguous()  # (K*K, C), tap k = dy * K + dx
    device = x.device.type
    autocast, dtype = autocast_state(device)
    if autocast:
        x, taps = x.to(dtype), taps.to(dtype)
        bias = None if bias is None else bias.to(dtype)
    with torch.autocast(device, enabled=False):
        out = _RowDepthwise.apply(x.contiguous(), taps, neighbours, kernels)
        return out if bias is None else out + bias
