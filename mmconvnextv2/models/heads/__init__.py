from .convnextv2_head import ConvNeXtV2ClsHead

__all__ = ['ConvNeXtV2ClsHead']
