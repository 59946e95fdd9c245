"""FCMAE's reconstruction loss: MSE to per-patch normalised pixels, on removed patches only."""

import torch
from mmengine.model import BaseModule

from mmconvnextv2.registry import MODELS


def patchify(images: torch.Tensor, patch_size: int) -> torch.Tensor:
    """(N, C, H, W) -> (N, H/p * W/p, p * p * C): a row per patch, in (row, column, channel)
    order."""
    n, c, h, w = images.shape
    p = patch_size
    patches = images.reshape(n, c, h // p, p, w // p, p)
    return patches.permute(0, 2, 4, 3, 5, 1).reshape(n, (h // p) * (w // p), p * p * c)


def unpatchify(patches: torch.Tensor, patch_size: int, grid_size: tuple) -> torch.Tensor:
    """The inverse of :func:`patchify`: (N, h * w, p * p * C) -> (N, C, h * p, w * p)."""
    n = patches.shape[0]
    h, w = grid_size
    p = patch_size
    c = patches.shape[-1] // (p * p)
    images = patches.reshape(n, h, w, p, p, c).permute(0, 5, 1, 3, 2, 4)
    return images.reshape(n, c, h * p, w * p)


@MODELS.register_module()
class FCMAEReconstructionHead(BaseModule):
    """Per-patch MSE between the decoder's prediction and the (normalised) image patches.

    Args:
        patch_size: Side of a patch (the encoder's total stride, 32).
        norm_pix: Normalise each target patch by its own mean and variance: the paper's target,
            and what the official ``main_pretrain.py`` trains with (its ``--norm_pix_loss``
            defaults to True there; only the official model class defaults to False).
        eps: Added to the variance before the square root.
    """

    def __init__(self, patch_size: int = 32, norm_pix: bool = True, eps: float = 1e-6,
                 init_cfg: dict | None = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.patch_size = patch_size
        self.norm_pix = norm_pix
        self.eps = eps

    def target(self, images: torch.Tensor) -> torch.Tensor:
        """The per-patch reconstruction target, (N, L, p * p * C)."""
        patches = patchify(images, self.patch_size)
        if not self.norm_pix:
            return patches
        mean = patches.mean(dim=-1, keepdim=True)
        var = patches.var(dim=-1, keepdim=True)
        return (patches - mean) / (var + self.eps).sqrt()

    def patch_losses(self, pred: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
        """The mean squared error of every patch, removed or not, (N, h * w).

        Args:
            pred: The decoder's output, (N, p * p * C, h, w).
            images: The (pre-processed) input images, (N, C, h * p, w * p).
        """
        pred = pred.flatten(2).transpose(1, 2).float()
        return (pred - self.target(images.float())).pow(2).mean(dim=-1)

    def loss(self, pred: torch.Tensor, images: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Mean over removed patches of the per-patch mean squared error.

        Args:
            pred: The decoder's output, (N, p * p * C, h, w).
            images: The (pre-processed) input images, (N, C, h * p, w * p).
            mask: (N, h, w), 1 where the patch was removed.
        """
        per_patch = self.patch_losses(pred, images)
        removed = mask.flatten(1).to(per_patch.dtype)
        return (per_patch * removed).sum() / removed.sum()
