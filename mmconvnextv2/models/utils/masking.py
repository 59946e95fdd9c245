"""FCMAE's random patch mask: drawn on the 1/32 grid, upsampled (nearest) to every stage."""
from typing import Optional, Tuple

import torch


def random_patch_mask(batch_size: int, grid_size: Tuple[int, int], mask_ratio: float,
                      generator: Optional[torch.Generator] = None,
                      device: Optional[torch.device] = None) -> torch.Tensor:
    """Draws, per sample, a mask that removes all but ``int(L * (1 - mask_ratio))`` patches.

    The kept patches are the ``keep`` smallest of L uniform random numbers, so every subset of that
    size is equally likely and every sample keeps exactly the same number.

    Args:
        batch_size: Number of samples N.
        grid_size: (h, w) of the patch grid, i.e. the image size divided by the patch size.
        mask_ratio: Fraction of patches to remove, in (0, 1).
        generator: Random generator, for reproducible masks.
        device: Device of the mask.

    Returns:
        A float tensor of shape (N, h, w): 1 where the patch is removed, 0 where it is kept.
    """
    if not 0.0 < mask_ratio < 1.0:
        raise ValueError(f'mask_ratio must be in (0, 1), got {mask_ratio}')
    h, w = grid_size
    num_patches = h * w
    keep = int(num_patches * (1 - mask_ratio))
    if keep < 1:
        raise ValueError(f'A {h}x{w} patch grid with mask_ratio={mask_ratio} keeps no patch; use '
                         'larger images or a smaller mask_ratio.')
    noise = torch.rand(batch_size, num_patches, generator=generator, device=device)
    kept = noise.argsort(dim=1)[:, :keep]
    mask = torch.ones(batch_size, num_patches, device=device)
    mask.scatter_(1, kept, 0.0)
    return mask.view(batch_size, h, w)


def upsample_mask(mask: torch.Tensor, scale: int) -> torch.Tensor:
    """Nearest upsampling of an (N, h, w) mask to (N, h * scale, w * scale)."""
    return mask.repeat_interleave(scale, dim=1).repeat_interleave(scale, dim=2)
