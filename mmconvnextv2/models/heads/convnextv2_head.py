"""Classification head of ConvNeXt V2: a linear layer whose initial weights are scaled down."""

import torch
from mmpretrain.models.heads import LinearClsHead
from mmpretrain.structures import DataSample

from mmconvnextv2.registry import MODELS


@MODELS.register_module()
class ConvNeXtV2ClsHead(LinearClsHead):
    """Linear head initialised with truncated normal weights, then scaled by ``head_init_scale``.

    The backbone (``gap_before_final_norm=True``) already pools and normalises, so this is the
    ``Linear`` of the paper's GAP -> LayerNorm -> Linear head. Fine-tuning re-initialises it with
    std 2e-5 and scale 0.001 (official recipe). The loss is computed in float32 also under bf16
    autocast, whose CPU policy would leave ``log_softmax`` in bf16.

    Args:
        num_classes: Number of classes.
        in_channels: Channels of the backbone's last output.
        head_init_scale: Factor applied to the initial weight and bias.
        init_std: Standard deviation of the truncated normal initialisation.
        **kwargs: Passed to :class:`mmpretrain.models.heads.LinearClsHead` (loss, topk, ...).
    """

    def __init__(self, num_classes: int, in_channels: int, head_init_scale: float = 1.0,
                 init_std: float = 0.02, init_cfg: dict | list | None = None,
                 **kwargs) -> None:
        if init_cfg is None:
            init_cfg = dict(type='TruncNormal', layer='Linear', std=init_std, bias=0.0)
        super().__init__(num_classes=num_classes, in_channels=in_channels, init_cfg=init_cfg,
                         **kwargs)
        self.head_init_scale = head_init_scale

    def init_weights(self) -> None:
        # mmengine initialises a module once; scale only on that first initialisation.
        first_time = not self._is_init
        super().init_weights()
        if first_time:
            with torch.no_grad():
                self.fc.weight.mul_(self.head_init_scale)
                self.fc.bias.mul_(self.head_init_scale)

    def _get_loss(self, cls_score: torch.Tensor, data_samples: list[DataSample],
                  **kwargs) -> dict:
        return super()._get_loss(cls_score.float(), data_samples, **kwargs)
