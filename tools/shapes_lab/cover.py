"""FCMAE's loss on the removed patches of shapes scenes, by how much of each a shape covers."""
from typing import NamedTuple

import torch

from mmconvnextv2.models.heads import patchify

# Removed patches by the fraction of their pixels that shapes cover: (name, low, high], with the
# first bin exactly 0.
COVER_BINS = (('ground only', -1.0, 0.0), ('edge (shape < 50 %)', 0.0, 0.5),
              ('inside (shape >= 50 %)', 0.5, 1.0))


class CoverBin(NamedTuple):
    """The removed patches of one bin of :data:`COVER_BINS`.

    Attributes:
        count: How many there are.
        loss: The model's mean loss on them (nan if none).
        colour_only: The mean loss of predicting each patch's own colour, its per-channel mean in
            the target, and nothing of where anything lies inside it (nan if none).
    """
    count: int
    loss: float
    colour_only: float


@torch.no_grad()
def loss_by_shape_cover(model: torch.nn.Module, images: torch.Tensor, shape_masks: torch.Tensor,
                        mask: torch.Tensor) -> dict[str, CoverBin]:
    """The reconstruction loss of the removed patches, by the bins of :data:`COVER_BINS`.

    Tells a model that paints a shape's colour into a removed patch from one that also draws
    where its edge runs: the first gets near the colour-only loss, only the second below it.

    Args:
        model: An :class:`~mmconvnextv2.models.FCMAE`.
        images: (N, 3, H, W) images as the model sees them (after its data preprocessor).
        shape_masks: (N, H, W), 1 where a pixel belongs to a shape, 0 on the ground.
        mask: (N, H/32, W/32) mask, 1 where a patch is removed.

    Returns:
        Each bin's name and its :class:`CoverBin`.
    """
    p, channels = model.patch_size, images.shape[1]
    per_patch = model.head.patch_losses(model.reconstruct(images, mask), images)
    target = model.head.target(images.float())
    pixels = target.unflatten(-1, (p * p, channels))  # patchify's (row, column, channel) order
    colour_only = (pixels - pixels.mean(-2, keepdim=True)).pow(2).mean((-2, -1))
    cover = patchify(shape_masks.unsqueeze(1).float(), p).mean(-1)
    removed = mask.flatten(1).bool()
    bins = {}
    for name, low, high in COVER_BINS:
        chosen = removed & (cover > low) & (cover <= high)
        count = int(chosen.sum())
        bins[name] = CoverBin(count, float(per_patch[chosen].mean()) if count else float('nan'),
                              float(colour_only[chosen].mean()) if count else float('nan'))
    return bins
