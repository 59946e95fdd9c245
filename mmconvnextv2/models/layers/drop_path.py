"""Stochastic depth (Huang et al. 2016) for residual branches."""
import torch
from torch import nn


class DropPath(nn.Module):
    """Zeroes a residual branch for a random subset of samples during training.

    Kept samples are scaled by ``1 / (1 - drop_prob)`` so the expectation is unchanged.

    Args:
        drop_prob: Probability of dropping the branch of one sample, in [0, 1).
    """

    def __init__(self, drop_prob: float) -> None:
        super().__init__()
        if not 0.0 <= drop_prob < 1.0:
            raise ValueError(f'drop_prob must be in [0, 1), got {drop_prob}')
        self.drop_prob = drop_prob

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.drop_prob == 0.0:
            return x
        keep = 1.0 - self.drop_prob
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
        return x * mask / keep

    def extra_repr(self) -> str:
        return f'drop_prob={self.drop_prob}'
