"""ConvNeXt V2 backbone (Woo et al. 2023, arXiv 2301.00808).

Parameter names follow the official release (``downsample_layers.i.j``, ``stages.i.j.{dwconv, norm,
pwconv1, grn, pwconv2}``, ``norm``) so that official checkpoints map one to one and the
layer-decay constructors of mmdet and mmseg, which match ``downsample_layers`` / ``stages`` in a
class whose name contains "ConvNeXt", recognise it.
"""
from collections.abc import Sequence

import torch
from mmengine.model import BaseModule
from mmpretrain.models.backbones.base_backbone import BaseBackbone
from torch import nn
from torch.utils.checkpoint import checkpoint

from mmconvnextv2.registry import MODELS
from mmconvnextv2.utils.arch_settings import ARCH_SETTINGS, NUM_STAGES, resolve_arch

from ..layers import GRN, DropPath, LayerNorm2d

LAYER_DECAY_MODES = ('single', 'group')
# The official 'group' mode splits the network into 12 learning-rate groups.
NUM_LR_GROUPS = 12


class ConvNeXtV2Block(BaseModule):
    """dwconv 7x7 -> LayerNorm -> Linear(4C) -> GELU -> GRN -> Linear(C), plus the residual.

    The part after the depthwise conv works on (N, H, W, C) and is exposed as
    :meth:`pointwise`, so that a sparse encoder can run it on gathered visible positions only.

    With ``use_grn=False`` and ``layer_scale_init_value=1e-6`` it is the ConvNeXt V1 block (no GRN,
    a learnable per-channel scale ``gamma`` on the residual branch), the paper's "V1" in its
    FCMAE ablation and feature-collapse analysis.

    Args:
        channels: Number of input and output channels C.
        drop_path_rate: Stochastic depth rate of the residual branch.
        with_cp: Recompute the block in backward instead of storing activations.
        use_grn: Apply GRN after the GELU (ConvNeXt V2). Without it the block has no ``grn``
            parameters.
        layer_scale_init_value: Initial value of ConvNeXt V1's LayerScale ``gamma`` (C values)
            multiplying the residual branch; 0 means no LayerScale and no ``gamma`` (V2).
    """

    def __init__(self, channels: int, drop_path_rate: float = 0.0, with_cp: bool = False,
                 use_grn: bool = True, layer_scale_init_value: float = 0.0) -> None:
        super().__init__()
        if layer_scale_init_value < 0:
            raise ValueError(f'layer_scale_init_value must be >= 0 (0 disables LayerScale), got '
                             f'{layer_scale_init_value}')
        hidden = 4 * channels
        self.dwconv = nn.Conv2d(channels, channels, kernel_size=7, padding=3, groups=channels)
        self.norm = nn.LayerNorm(channels, eps=1e-6)
        self.pwconv1 = nn.Linear(channels, hidden)
        self.act = nn.GELU()
        self.grn: GRN | None = GRN(hidden, layout='channels_last') if use_grn else None
        self.pwconv2 = nn.Linear(hidden, channels)
        self.gamma: nn.Parameter | None = (
            nn.Parameter(torch.full((channels, ), layer_scale_init_value))
            if layer_scale_init_value > 0 else None)
        self.drop_path = DropPath(drop_path_rate) if drop_path_rate > 0 else nn.Identity()
        self.with_cp = with_cp

    def pointwise(self, x: torch.Tensor, visible: torch.Tensor | None = None) -> torch.Tensor:
        """LayerNorm -> Linear -> GELU -> GRN -> Linear (-> LayerScale) on (N, H, W, C).

        Args:
            x: The depthwise conv's output, channels last.
            visible: Optional (N, H, W, 1) 0/1 map; GRN's statistics then see only the sites
                where it is 1 (a masked-dense sparse encoder), all sites are still computed.
        """
        x = self.act(self.pwconv1(self.norm(x)))
        if self.grn is not None:
            x = self.grn(x) if visible is None else self.grn.modulate(
                x, self.grn.global_response(x * visible))
        x = self.pwconv2(x)
        return x if self.gamma is None else x * self.gamma

    def _residual(self, x: torch.Tensor) -> torch.Tensor:
        y = self.pointwise(self.dwconv(x).permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        return x + self.drop_path(y)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.with_cp and x.requires_grad:
            return checkpoint(self._residual, x, use_reentrant=False)
        return self._residual(x)


@MODELS.register_module()
class ConvNeXtV2(BaseBackbone):
    """ConvNeXt V2 backbone.

    Args:
        arch: A name of :attr:`arch_settings` or a dict with ``depths`` and ``channels`` (4 each).
        in_channels: Channels of the input image.
        drop_path_rate: Stochastic depth rate of the last block; it grows linearly from 0.
        out_indices: Stages whose outputs are returned (negative counts from the end). Each gets
            its own LayerNorm: ``norm`` for the last stage (the official name), ``norm{i}`` else.
        frozen_stages: Number of leading stages (with their downsampling layers) kept frozen and
            in eval mode, also after ``train()``. 0 freezes nothing.
        gap_before_final_norm: Pool each output globally before its norm and return (N, C)
            vectors, as the classifier does; else return normalised (N, C, H, W) maps.
        with_out_norms: Give each output its LayerNorm. FCMAE's encoder has none (the official
            ``*_fcmae.pt`` layout), so its outputs are the raw stage maps.
        with_cp: Use activation checkpointing in every block.
        use_grn: GRN in every block (ConvNeXt V2). False, with ``layer_scale_init_value=1e-6``,
            gives the "V1-style" network of the paper's comparisons; see :class:`ConvNeXtV2Block`.
        layer_scale_init_value: Initial LayerScale of every block; 0 (V2) means none.
        channels_last: Run in the ``torch.channels_last`` memory format, where the permutes to and
            from (N, H, W, C) around the pointwise layers are free.
        init_cfg: mmengine init config. Defaults to truncated normal (std 0.02) for convs and
            linears with zero bias, and ones/zeros for norms.
    """

    arch_settings = ARCH_SETTINGS
    num_stages = NUM_STAGES

    def __init__(self,
                 arch: str | dict[str, list[int]] = 'tiny',
                 in_channels: int = 3,
                 drop_path_rate: float = 0.0,
                 out_indices: int | Sequence[int] = -1,
                 frozen_stages: int = 0,
                 gap_before_final_norm: bool = True,
                 with_out_norms: bool = True,
                 with_cp: bool = False,
                 use_grn: bool = True,
                 layer_scale_init_value: float = 0.0,
                 channels_last: bool = False,
                 init_cfg: dict | list[dict] | None = None) -> None:
        if init_cfg is None:
            init_cfg = [
                dict(type='TruncNormal', layer=['Conv2d', 'Linear'], std=0.02, bias=0.0),
                dict(type='Constant', layer=['LayerNorm', 'LayerNorm2d'], val=1.0, bias=0.0),
            ]
        super().__init__(init_cfg=init_cfg)
        self.arch = resolve_arch(arch)
        self.depths: list[int] = self.arch['depths']
        self.channels: list[int] = self.arch['channels']
        self.out_indices = self._resolve_out_indices(out_indices)
        if not 0 <= frozen_stages <= self.num_stages:
            raise ValueError(f'frozen_stages must be in [0, {self.num_stages}], '
                             f'got {frozen_stages}')
        self.frozen_stages = frozen_stages
        self.gap_before_final_norm = gap_before_final_norm
        self.with_out_norms = with_out_norms
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format

        stem = nn.Sequential(
            nn.Conv2d(in_channels, self.channels[0], kernel_size=4, stride=4),
            LayerNorm2d(self.channels[0], eps=1e-6))
        self.downsample_layers = nn.ModuleList([stem] + [
            nn.Sequential(
                LayerNorm2d(self.channels[i - 1], eps=1e-6),
                nn.Conv2d(self.channels[i - 1], self.channels[i], kernel_size=2, stride=2))
            for i in range(1, self.num_stages)
        ])
        num_blocks = sum(self.depths)
        # Linear in the block index, 0 for the first block and drop_path_rate for the last.
        rates = [drop_path_rate * j / max(num_blocks - 1, 1) for j in range(num_blocks)]
        self.stages = nn.ModuleList()
        for depth, channels, first in zip(self.depths, self.channels, self._block_offsets()):
            self.stages.append(nn.Sequential(*[
                ConvNeXtV2Block(channels, rates[first + j], with_cp, use_grn,
                                layer_scale_init_value) for j in range(depth)]))
        if with_out_norms:
            for i in self.out_indices:
                self.add_module(self.out_norm_name(i), LayerNorm2d(self.channels[i], eps=1e-6))

        self.to(memory_format=self.memory_format)
        self._freeze_stages()

    def _resolve_out_indices(self, out_indices: int | Sequence[int]) -> tuple[int, ...]:
        indices = [out_indices] if isinstance(out_indices, int) else list(out_indices)
        resolved = []
        for index in indices:
            if not -self.num_stages <= index < self.num_stages:
                raise ValueError(f'out_indices must lie in [-{self.num_stages}, '
                                 f'{self.num_stages - 1}], got {index}')
            resolved.append(index % self.num_stages)
        return tuple(sorted(set(resolved)))

    def _block_offsets(self) -> list[int]:
        """Index of each stage's first block among all blocks."""
        return [sum(self.depths[:i]) for i in range(self.num_stages)]

    def out_norm_name(self, index: int) -> str:
        """Name of the LayerNorm applied to the output of stage ``index``."""
        return 'norm' if index == self.num_stages - 1 else f'norm{index}'

    def _freeze_stages(self) -> None:
        for i in range(self.frozen_stages):
            for module in (self.downsample_layers[i], self.stages[i]):
                module.eval()
                for param in module.parameters():
                    param.requires_grad = False

    def train(self, mode: bool = True) -> 'ConvNeXtV2':
        super().train(mode)
        self._freeze_stages()
        return self

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        x = x.contiguous(memory_format=self.memory_format)
        outs = []
        for i in range(self.num_stages):
            x = self.stages[i](self.downsample_layers[i](x))
            if i in self.out_indices:
                outs.append(self.format_output(i, x))
        return tuple(outs)

    def format_output(self, index: int, x: torch.Tensor) -> torch.Tensor:
        """Pools (if ``gap_before_final_norm``) and normalises (if ``with_out_norms``) an output.

        Maps are returned contiguous in (N, C, H, W) whatever the memory format inside: the
        blocks leave channels-last strides, and kernels downstream that read raw NCHW memory
        (mmcv's CPU RoIAlign in Mask R-CNN) would silently read wrong values from them.
        """
        if self.gap_before_final_norm:
            x = x.mean(dim=(2, 3), keepdim=True)
        if self.with_out_norms:
            x = getattr(self, self.out_norm_name(index))(x)
        return x.flatten(1) if self.gap_before_final_norm else x.contiguous()

    def get_layer_depth(self, param_name: str, prefix: str = '',
                        mode: str = 'single') -> tuple[int, int]:
        """Layer id of a parameter for layer-wise learning-rate decay.

        The learning-rate scale of a parameter is ``decay ** (num_layers - layer_id - 1)``; this
        is the contract of mmpretrain's ``LearningRateDecayOptimWrapperConstructor``.

        Args:
            param_name: Full parameter name, e.g. ``'backbone.stages.2.4.pwconv1.weight'``.
            prefix: The backbone's prefix in ``param_name``; names without it (the head) get the
                top id.
            mode: ``'single'`` gives every block its own id (the stem is 1, the top
                ``sum(depths) + 1``); ``'group'`` is the official 12-group split used for
                base/large/huge (the third stage in groups of 3 blocks).

        Returns:
            The layer id and the number of layer ids.
        """
        if mode not in LAYER_DECAY_MODES:
            raise ValueError(f'layer decay mode must be one of {LAYER_DECAY_MODES}, got {mode!r}')
        top = sum(self.depths) + 1 if mode == 'single' else NUM_LR_GROUPS + 1
        if not param_name.startswith(prefix):
            return top, top + 1
        parts = param_name[len(prefix):].split('.')
        if parts[0] not in ('downsample_layers', 'stages'):
            return top, top + 1
        stage = int(parts[1])
        block = int(parts[2]) if parts[0] == 'stages' else 0
        if mode == 'single':
            return self._block_offsets()[stage] + block + 1, top + 1
        return self._group_id(stage, block, is_downsample=parts[0] == 'downsample_layers'), top + 1

    @staticmethod
    def _group_id(stage: int, block: int, is_downsample: bool) -> int:
        """The official 12 groups: stem 0, stages 0/1 -> 1/2, stage 2 by 3 blocks, stage 3 -> 12."""
        if stage == 0:
            return 0 if is_downsample else 1
        if stage == 1:
            return 2
        if stage == 2:
            return 3 if is_downsample else 3 + block // 3
        return NUM_LR_GROUPS
