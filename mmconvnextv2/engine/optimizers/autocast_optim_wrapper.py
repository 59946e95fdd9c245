"""bf16 mixed precision through ``torch.autocast``, on the CPU as well as on CUDA.

mmengine's :class:`~mmengine.optim.AmpOptimWrapper` asserts a CUDA, NPU, MLU or MUSA device, so it
cannot train on the CPU. bfloat16 has float32's exponent range, so unlike float16 it needs no loss
scaling: this wrapper only runs the forward pass under autocast. Parameters, gradients and
optimiser state stay float32. For float16 on a GPU use ``AmpOptimWrapper``, whose dynamic loss
scale keeps small gradients from underflowing.
"""
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, ContextManager

import torch
from mmengine.device import get_device
from mmengine.model import is_model_wrapper
from mmengine.optim import OptimWrapper
from mmengine.runner.amp import autocast
from torch import nn

from mmconvnextv2.registry import OPTIM_WRAPPERS

AUTOCAST_DEVICES = ('cpu', 'cuda')
# What Mask R-CNN (and other mmdet two-stage detectors) can run in bf16 on the CPU: every conv and
# linear layer, but not mmcv's NMS and RoIAlign between them, whose CPU kernels are float32 only.
MMDET_TWO_STAGE_AUTOCAST_MODULES = ('backbone', 'neck', 'rpn_head', 'roi_head.bbox_head',
                                    'roi_head.mask_head')


def _to_float32(data: Any) -> Any:
    """``data`` with its bf16/fp16 tensors (also inside tuples, lists and dicts) as float32."""
    if isinstance(data, torch.Tensor):
        return data.float() if data.is_floating_point() and data.dtype != torch.float64 else data
    if isinstance(data, (tuple, list)):
        return type(data)(_to_float32(item) for item in data)
    if isinstance(data, dict):
        return {key: _to_float32(value) for key, value in data.items()}
    return data


@OPTIM_WRAPPERS.register_module()
class AutocastOptimWrapper(OptimWrapper):
    """An :class:`~mmengine.optim.OptimWrapper` whose forward runs under bf16 autocast.

    By default the whole forward (data preprocessing, model and loss) runs under autocast. Models
    that call ops without bf16 kernels (mmcv's NMS and RoIAlign on the CPU, in mmdet's detectors)
    name the submodules to autocast instead, ``autocast_modules``: only their ``forward`` runs in
    bf16 and their outputs return to float32, so the rest (those ops, the losses) is float32.

    Example::

        optim_wrapper = dict(
            type='mmconvnextv2.AutocastOptimWrapper',
            optimizer=dict(type='AdamW', lr=8e-4, weight_decay=0.05),
            constructor='mmconvnextv2.LayerDecayOptimWrapperConstructor',
            paramwise_cfg=dict(layer_decay_rate=0.9))
        # Mask R-CNN on the CPU: MMDET_TWO_STAGE_AUTOCAST_MODULES
        optim_wrapper = dict(..., autocast_modules=['backbone', 'neck', 'rpn_head',
                                                    'roi_head.bbox_head', 'roi_head.mask_head'])

    Args:
        dtype: The autocast dtype; only ``'bfloat16'`` (float16 needs loss scaling, which
            ``AmpOptimWrapper`` provides on a GPU).
        device_type: ``'cpu'`` or ``'cuda'``; defaults to mmengine's current device.
        autocast_modules: Attribute paths of the submodules (e.g. ``'backbone'``,
            ``'roi_head.bbox_head'``) whose ``forward`` runs under autocast; None autocasts the
            whole forward.
        **kwargs: Passed to :class:`~mmengine.optim.OptimWrapper` (``optimizer``,
            ``accumulative_counts``, ``clip_grad``).
    """

    def __init__(self, dtype: str | torch.dtype = 'bfloat16',
                 device_type: str | None = None,
                 autocast_modules: Sequence[str] | None = None, **kwargs) -> None:
        if dtype not in ('bfloat16', torch.bfloat16):
            raise ValueError(
                f'AutocastOptimWrapper runs bfloat16 only, got dtype={dtype!r}. float16 needs '
                "loss scaling: use type='AmpOptimWrapper' (mmengine, GPU only) with "
                "dtype='float16', loss_scale='dynamic'.")
        device_type = get_device() if device_type is None else device_type
        if device_type not in AUTOCAST_DEVICES:
            raise ValueError(f'AutocastOptimWrapper supports device_type in {AUTOCAST_DEVICES}, '
                             f'got {device_type!r}; on NPU or MLU use AmpOptimWrapper.')
        if device_type == 'cuda' and not torch.cuda.is_bf16_supported():
            raise ValueError("This CUDA device has no bfloat16; use type='AmpOptimWrapper' "
                             "with dtype='float16' instead.")
        if isinstance(autocast_modules, str) or (autocast_modules is not None
                                                 and not autocast_modules):
            raise ValueError(f'autocast_modules must be None or a non-empty list of submodule '
                             f'names, got {autocast_modules!r}')
        super().__init__(**kwargs)
        self.cast_dtype = torch.bfloat16
        self.device_type = device_type
        self.autocast_modules = None if autocast_modules is None else list(autocast_modules)

    def _autocast(self) -> ContextManager[None]:
        return autocast(device_type=self.device_type, dtype=self.cast_dtype)

    @contextmanager
    def optim_context(self, model: nn.Module) -> Iterator[None]:
        """The parent's context (gradient-accumulation ``no_sync``) plus bf16 autocast."""
        with super().optim_context(model), self._hint_on_bf16_error():
            if self.autocast_modules is None:
                with self._autocast():
                    yield
            else:
                with self._autocast_submodules(model.module if is_model_wrapper(model) else model):
                    yield

    @contextmanager
    def _autocast_submodules(self, model: nn.Module) -> Iterator[None]:
        """Hooks that run each named submodule's forward under autocast, outputs in float32."""
        modules = []
        for name in self.autocast_modules:
            try:
                modules.append(model.get_submodule(name))
            except AttributeError as error:
                raise AttributeError(
                    f'AutocastOptimWrapper: {type(model).__name__} has no submodule {name!r} '
                    f'(autocast_modules={self.autocast_modules}).') from error
        # Contexts entered by pre-hooks, exited by the matching forward hooks (modules nest).
        entered: list[ContextManager[None]] = []

        def enter(module: nn.Module, args: tuple) -> None:
            context = self._autocast()
            context.__enter__()
            entered.append(context)

        def leave(module: nn.Module, args: tuple, output: Any) -> Any:
            entered.pop().__exit__(None, None, None)
            return _to_float32(output)

        handles = [hook for module in modules for hook in (
            module.register_forward_pre_hook(enter), module.register_forward_hook(leave))]
        try:
            yield
        finally:
            for handle in handles:
                handle.remove()
            # A forward that raised skipped its forward hook.
            while entered:
                entered.pop().__exit__(None, None, None)

    @contextmanager
    def _hint_on_bf16_error(self) -> Iterator[None]:
        """Names the fix when an op without a bf16 kernel fails under autocast."""
        try:
            yield
        except RuntimeError as error:
            if 'BFloat16' not in str(error):
                raise
            raise RuntimeError(
                f'{error}\nAn op without a bfloat16 kernel ran under AutocastOptimWrapper\'s '
                'autocast. Autocast only the submodules that support it: set '
                'optim_wrapper.autocast_modules, e.g. for mmdet two-stage detectors on the CPU '
                f'{list(MMDET_TWO_STAGE_AUTOCAST_MODULES)}.') from error
