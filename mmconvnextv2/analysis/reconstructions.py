"""FCMAE reconstructions as pictures: original | masked input | reconstruction | visible pasted."""
import os
import os.path as osp

import numpy as np
import torch
from PIL import Image

from mmconvnextv2.models.heads import patchify, unpatchify

PANELS = ('original', 'masked', 'reconstruction', 'pasted')


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
