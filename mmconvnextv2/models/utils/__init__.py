from .masking import random_patch_mask, seeded_patch_mask, upsample_mask
from .pretrained_init import ConvNeXtV2PretrainedInit

__all__ = ['ConvNeXtV2PretrainedInit', 'random_patch_mask', 'seeded_patch_mask', 'upsample_mask']
