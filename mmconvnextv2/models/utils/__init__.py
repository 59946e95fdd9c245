from .masking import random_patch_mask, upsample_mask

__all__ = ['random_patch_mask', 'upsample_mask']
