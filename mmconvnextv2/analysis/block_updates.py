"""How much each residual block changes what flows through it: ||block(x) - x|| / ||x||.

A block whose ratio is near 0 passes its input on almost unchanged: whatever its weights hold,
the network does not use it. Comparing encoders block by block shows which stages a pre-training
left (nearly) switched off.
"""
from collections.abc import Callable

import torch
from torch import nn

from .features import backbone_forward, find_hook_points

# Every residual block of our ConvNeXt V2 (and V1-style) backbone and of mmpretrain's ConvNeXt.
CONVNEXT_BLOCK_PATTERN = r'backbone\.stages\.\d+\.\d+'


def relative_update(block_input: torch.Tensor, block_output: torch.Tensor) -> torch.Tensor:
    """Per image, ``||output - input|| / ||input||`` over all its elements; shape (B,)."""
    change = (block_output - block_input).flatten(1).norm(dim=1)
    return change / block_input.flatten(1).norm(dim=1).clamp_min(torch.finfo(change.dtype).tiny)


@torch.no_grad()
def block_update_ratios(model: nn.Module, inputs: torch.Tensor,
                        hook_pattern: str = CONVNEXT_BLOCK_PATTERN) -> dict[str, torch.Tensor]:
    """The :func:`relative_update` of every block that ``hook_pattern`` matches, per image.

    Args:
        model: A model with a ``backbone`` (:func:`~mmconvnextv2.analysis.build_model`).
        inputs: Its preprocessed (B, 3, H, W) images.
        hook_pattern: Full-match regex of the block names; each block's output must have the
            shape of its input.

    Returns:
        Block name to the (B,) ratios, in network order.

    Raises:
        ValueError: If a matched module's output differs in shape from its input.
    """
    ratios: dict[str, torch.Tensor] = {}

    def hook_for(name: str) -> Callable[[nn.Module, tuple, torch.Tensor], None]:
        def hook(module: nn.Module, args: tuple, output: torch.Tensor) -> None:
            if output.shape != args[0].shape:
                raise ValueError(f'{name} maps {tuple(args[0].shape)} to {tuple(output.shape)}: '
                                 'not a residual block; narrow the hook pattern to the blocks.')
            ratios[name] = relative_update(args[0], output)
        return hook

    modules = dict(model.named_modules())
    handles = [modules[name].register_forward_hook(hook_for(name))
               for name in find_hook_points(model, hook_pattern)]
    try:
        backbone_forward(model, inputs)
    finally:
        for handle in handles:
            handle.remove()
    return ratios
