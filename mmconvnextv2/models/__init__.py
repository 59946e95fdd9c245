"""Models of mmconvnextv2; importing this module registers them in the ``mmconvnextv2`` scope."""
from .backbones import SPARSE_BACKENDS, ConvNeXtV2, ConvNeXtV2Block, SparseConvNeXtV2
from .heads import ConvNeXtV2ClsHead, FCMAEReconstructionHead
from .layers import GRN, DropPath, LayerNorm2d
from .necks import FCMAEDecoder
from .selfsup import FCMAE

__all__ = ['SPARSE_BACKENDS', 'ConvNeXtV2', 'ConvNeXtV2Block', 'ConvNeXtV2ClsHead', 'DropPath',
           'FCMAE', 'FCMAEDecoder', 'FCMAEReconstructionHead', 'GRN', 'LayerNorm2d',
           'SparseConvNeXtV2']
