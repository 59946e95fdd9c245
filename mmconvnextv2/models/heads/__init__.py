from .convnextv2_head import ConvNeXtV2ClsHead
from .fcmae_head import FCMAEReconstructionHead, patchify, unpatchify

__all__ = ['ConvNeXtV2ClsHead', 'FCMAEReconstructionHead', 'patchify', 'unpatchify']
