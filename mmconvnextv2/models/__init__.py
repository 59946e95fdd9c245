"""Models of mmconvnextv2; importing this module registers them in the ``mmconvnextv2`` scope."""
from .backbones import ConvNeXtV2, ConvNeXtV2Block
from .heads import ConvNeXtV2ClsHead
from .layers import GRN, DropPath, LayerNorm2d

__all__ = ['ConvNeXtV2', 'ConvNeXtV2Block', 'ConvNeXtV2ClsHead', 'GRN', 'DropPath', 'LayerNorm2d']
