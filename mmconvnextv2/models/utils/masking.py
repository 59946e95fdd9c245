"""FCMAE's random patch mask: drawn on the 1/32 grid, upsampled (nearest) to every stage."""
from collections.abc import Sequence

import numpy as np
import torch


def _kept_patches(grid_size: tuple[int, int], mask_ratio: float) -> int:
    """How many of the grid's patches a mask of ``mask_ratio`` keeps; at least one."""
    if not 0.0 < mask_ratio < 1.0:
        raise ValueError(f'mask_ratio must be in (0, 1), got {mask_ratio}')
    h, w = grid_size
    keep = int(h * w * (1 - mask_ratio))
    if keep < 1:
        raise ValueError(f'A {h}x{w} patch grid with mask_ratio={mask_ratio} keeps no patch; use '
                         'larger images or a smaller mask_ratio.')
    return keep


def _mask_from_noise(noise: torch.Tensor, keep: int, grid_size: tuple[int, int]) -> torch.Tensor:
    """Keeps, per row of (N, L) ``noise``, the ``keep`` patches with the smallest values.

    Every subset of that size is equally likely and every sample keeps exactly ``keep`` patches.
    """
    kept = noise.argsort(dim=1)[:, :keep]
    mask = torch.ones_like(noise)
    mask.scatter_(1, kept, 0.0)
    return mask.view(noise.shape[0], *grid_size)


def random_patch_mask(batch_size: int, grid_size: tuple[int, int], mask_ratio: float,
                      generator: torch.Generator | None = None,
                      device: torch.device | None = None) -> torch.Tensor:
    """Draws, per sample, a mask that removes all but ``int(L * (1 - mask_ratio))`` patches.

    Args:
        batch_size: Number of samples N.
        grid_size: (h, w) of the patch grid, i.e. the image size divided by the patch size.
        mask_ratio: Fraction of patches to remove, in (0, 1).
        generator: Random generator, for reproducible masks. The noise is drawn on its device
            and the mask moved to ``device``, so a CPU generator gives CUDA images the mask it
            gives CPU images.
        device: Device of the mask.

    Returns:
        A float tensor of shape (N, h, w): 1 where the patch is removed, 0 where it is kept.
    """
    keep = _kept_patches(grid_size, mask_ratio)
    # torch draws with a generator on that generator's device only; it refuses a CPU generator
    # for CUDA noise.
    noise_device = device if generator is None else generator.device
    noise = torch.rand(batch_size, grid_size[0] * grid_size[1], generator=generator,
                       device=noise_device)
    mask = _mask_from_noise(noise, keep, grid_size)
    return mask if device is None else mask.to(device)


def seeded_patch_mask(sample_seeds: Sequence[Sequence[int]], grid_size: tuple[int, int],
                      mask_ratio: float, device: torch.device | None = None) -> torch.Tensor:
    """Like :func:`random_patch_mask`, but each sample's mask is a function of its own seed.

    A sample's mask then does not depend on which batch, process or resumed run draws it.

    Args:
        sample_seeds: Per sample, a sequence of non-negative integers (e.g. run seed, step,
            dataset index), mixed into one seed by numpy's ``SeedSequence``.
        grid_size: (h, w) of the patch grid.
        mask_ratio: Fraction of patches to remove, in (0, 1).
        device: Device of the mask.

    Returns:
        A float tensor of shape (N, h, w): 1 where the patch is removed, 0 where it is kept.
    """
    keep = _kept_patches(grid_size, mask_ratio)
    num_patches = grid_size[0] * grid_size[1]
    rows = []
    for seed in sample_seeds:
        mixed = int(np.random.SeedSequence(list(seed)).generate_state(1, np.uint64)[0])
        rows.append(torch.rand(num_patches, generator=torch.Generator().manual_seed(mixed)))
    return _mask_from_noise(torch.stack(rows).to(device), keep, grid_size)


def upsample_mask(mask: torch.Tensor, scale: int) -> torch.Tensor:
    """Nearest upsampling of an (N, h, w) mask to (N, h * scale, w * scale)."""
    return mask.repeat_interleave(scale, dim=1).repeat_interleave(scale, dim=2)
