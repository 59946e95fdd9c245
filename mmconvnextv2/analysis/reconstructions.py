"""FCMAE reconstructions: as pictures (original | masked input | reconstruction | visible pasted),
and the loss of the removed patches by how much of each a shape covers."""
import os
import os.path as osp
from typing import NamedTuple

import numpy as np
import torch
from PIL import Image

from mmconvnextv2.models.heads import patchify, unpatchify

PANELS = ('original', 'masked', 'reconstruction', 'pasted')
# Removed patches by the fraction of their pixels that shapes cover: (name, low, high], with the
# first bin exactly 0.
COVER_BINS = (('ground only', -1.0, 0.0), ('edge (shape < 50 %)', 0.0, 0.5),
              ('inside (shape >= 50 %)', 0.5, 1.0))


@torch.no_grad()
def reconstruction_panels(model: torch.nn.Module, images: torch.Tensor,
                          mask: torch.Tensor) -> dict[str, torch.Tensor]:
    """The four panels of :data:`PANELS` for normalised ``images`` under ``mask``.

    With ``norm_pix`` the decoder predicts each patch normalised by its own mean and variance;
    the prediction is mapped back with the true patch's statistics, as MAE shows it.

    Args:
        model: An :class:`~mmconvnextv2.models.FCMAE`.
        images: (N, 3, H, W) images as the model sees them (after its data preprocessor).
        mask: (N, H/32, W/32) mask, 1 where a patch is removed.

    Returns:
        Each panel as an (N, 3, H, W) tensor in the space of ``images``.
    """
    p, grid = model.patch_size, tuple(mask.shape[1:])
    pred = model.reconstruct(images, mask).flatten(2).transpose(1, 2)
    target = patchify(images, p)
    if model.head.norm_pix:
        pred = pred * (target.var(-1, keepdim=True) + model.head.eps).sqrt() + \
            target.mean(-1, keepdim=True)
    removed = mask.flatten(1).unsqueeze(-1)
    return dict(original=images,
                masked=unpatchify(target * (1 - removed), p, grid),
                reconstruction=unpatchify(pred, p, grid),
                pasted=unpatchify(target * (1 - removed) + pred * removed, p, grid))


def save_reconstruction_grid(model: torch.nn.Module, raw_images: torch.Tensor, path: str,
                             seed: int = 0, mask: torch.Tensor | None = None) -> str:
    """Draws one row of :data:`PANELS` per image into a PNG.

    Args:
        model: An :class:`~mmconvnextv2.models.FCMAE`, in eval mode.
        raw_images: (N, 3, H, W) images as the data pipeline packs them (BGR, 0-255).
        path: The PNG to write; its folder is created.
        seed: Seed of the random masks, when ``mask`` is not given.
        mask: A fixed mask instead of a random one.

    Returns:
        ``path``.
    """
    preprocessor = model.data_preprocessor
    images = preprocessor(dict(inputs=raw_images.float(), data_samples=None))['inputs']
    if mask is None:
        mask = model.draw_mask(images, generator=torch.Generator().manual_seed(seed))
    panels = reconstruction_panels(model, images, mask)
    pixels = {name: (panel * preprocessor.std + preprocessor.mean).round().clamp(0, 255).byte()
              for name, panel in panels.items()}
    rows = [np.concatenate([pixels[name][i].permute(1, 2, 0).numpy() for name in PANELS], axis=1)
            for i in range(len(images))]
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    Image.fromarray(np.concatenate(rows, axis=0)).save(path)
    return path


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
