"""FCMAE's lightweight decoder: fill masked sites with a token, one ConvNeXt V2 block, predict
pixels."""

import torch
from mmengine.model import BaseModule
from torch import nn

from mmconvnextv2.registry import MODELS

from ..backbones.convnextv2 import ConvNeXtV2Block


@MODELS.register_module()
class FCMAEDecoder(BaseModule):
    """1x1 conv to ``embed_dim`` -> mask token at masked sites -> ConvNeXt V2 blocks -> 1x1 conv.

    Args:
        in_channels: Channels of the encoder's last stage.
        embed_dim: Decoder width (the paper's best: 512).
        depth: Number of ConvNeXt V2 blocks (the paper's best: 1).
        patch_size: Side of a patch; each 1/32 site predicts ``patch_size**2 * out_channels``
            values.
        out_channels: Image channels.
        init_cfg: Defaults to truncated normal (std 0.02) convs and linears with zero bias.
    """

    def __init__(self, in_channels: int, embed_dim: int = 512, depth: int = 1,
                 patch_size: int = 32, out_channels: int = 3,
                 init_cfg: dict | list[dict] | None = None) -> None:
        if init_cfg is None:
            init_cfg = [
                dict(type='TruncNormal', layer=['Conv2d', 'Linear'], std=0.02, bias=0.0),
                dict(type='Constant', layer=['LayerNorm'], val=1.0, bias=0.0),
            ]
        super().__init__(init_cfg=init_cfg)
        self.proj = nn.Conv2d(in_channels, embed_dim, kernel_size=1)
        self.mask_token = nn.Parameter(torch.zeros(1, embed_dim, 1, 1))
        self.decoder = nn.Sequential(*[ConvNeXtV2Block(embed_dim) for _ in range(depth)])
        self.pred = nn.Conv2d(embed_dim, patch_size * patch_size * out_channels, kernel_size=1)

    def init_weights(self) -> None:
        first_time = not self._is_init
        super().init_weights()
        if first_time:
            nn.init.trunc_normal_(self.mask_token, std=0.02)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Predicts every patch's pixels.

        Args:
            x: The encoder's last stage, (N, C, H/32, W/32).
            mask: (N, H/32, W/32), 1 where the patch was removed.

        Returns:
            (N, patch_size**2 * out_channels, H/32, W/32).
        """
        x = self.proj(x)
        removed = mask.unsqueeze(1).to(x.dtype)
        x = x * (1 - removed) + self.mask_token.to(x.dtype) * removed
        return self.pred(self.decoder(x))
