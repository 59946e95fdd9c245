"""Global Response Normalization (ConvNeXt V2, Woo et al. 2023, arXiv 2301.00808, Sec. 3.2)."""
import torch
from torch import nn

from mmconvnextv2.registry import MODELS

LAYOUTS = ('channels_last', 'channels_first')


@MODELS.register_module()
class GRN(nn.Module):
    """Global Response Normalization.

    Per sample and channel ``Gx = ||X_c||_2`` over the spatial positions, ``Nx = Gx / (mean_c Gx +
    eps)`` and ``out = gamma * X * Nx + beta + X``. ``gamma`` and ``beta`` start at zero, so a
    fresh GRN is the identity.

    Mean, not sum: the paper's Eq. 2 divides each channel's norm by the sum over the C channels,
    ``Gx / sum_c Gx``; the official code and timm divide by the mean, ``Gx / (mean_c Gx + 1e-6)``
    (a constant factor, the authors say in official issue #14), and so do we. The two differ by
    the factor C, which training absorbs into ``gamma``; but the official and timm checkpoints
    were trained with the mean: loaded into a sum-normalised GRN, their ``gamma`` would act C
    times too weakly.

    The norm is accumulated in fp32 whatever the input dtype: under fp16 autocast the squared sum of
    a large activation map overflows (official ConvNeXt-V2 issue #66), which fp32 does not.

    Args:
        channels: Number of channels C.
        layout: ``'channels_last'`` for (N, H, W, C) input, ``'channels_first'`` for (N, C, H, W).
        eps: Added to the channel mean of ``Gx`` before dividing.
    """

    def __init__(self, channels: int, layout: str = 'channels_last', eps: float = 1e-6) -> None:
        super().__init__()
        if layout not in LAYOUTS:
            raise ValueError(f'GRN layout must be one of {LAYOUTS}, got {layout!r}')
        self.channels = channels
        self.layout = layout
        self.eps = eps
        self.gamma = nn.Parameter(torch.zeros(channels))
        self.beta = nn.Parameter(torch.zeros(channels))
        # Fixed once here so forward is a single expression with no layout branches.
        if layout == 'channels_last':
            self._spatial_dims, self._channel_dim, self._param_shape = (1, 2), -1, (1, 1, 1, -1)
        else:
            self._spatial_dims, self._channel_dim, self._param_shape = (2, 3), 1, (1, -1, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.modulate(x, self.global_response(x))

    def global_response(self, x: torch.Tensor) -> torch.Tensor:
        """``Nx``: each channel's L2 norm over the positions divided by the channels' mean, fp32.

        A caller that must leave positions out of the statistics (the sparse encoder's masked
        sites) passes ``x`` with those positions zeroed.
        """
        gx = torch.linalg.vector_norm(x, dim=self._spatial_dims, keepdim=True, dtype=torch.float32)
        return gx / (gx.mean(dim=self._channel_dim, keepdim=True) + self.eps)

    def modulate(self, x: torch.Tensor, nx: torch.Tensor) -> torch.Tensor:
        """``gamma * (x * nx) + beta + x``, computed as ``x * (gamma * nx + 1) + beta``.

        The per-(sample, channel) factor is formed on the small ``nx`` first, so the activation map
        is read once (one ``addcmul``) in the forward and in the backward, in the dtype of ``x``.
        """
        scale = (self.gamma.view(self._param_shape) * nx + 1).to(x.dtype)
        return torch.addcmul(self.beta.view(self._param_shape).to(x.dtype), x, scale)

    def extra_repr(self) -> str:
        return f'{self.channels}, layout={self.layout!r}, eps={self.eps}'
