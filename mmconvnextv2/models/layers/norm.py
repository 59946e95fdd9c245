"""LayerNorm over the channel dimension of an (N, C, H, W) tensor."""
import torch
import torch.nn.functional as F
from torch import nn


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over C for (N, C, H, W) input, with the parameters of ``nn.LayerNorm(C)``.

    The tensor is viewed as (N, H, W, C) for the normalisation: for a ``channels_last`` memory
    format that view is contiguous and the permutes cost nothing.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 2, 3, 1)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)
