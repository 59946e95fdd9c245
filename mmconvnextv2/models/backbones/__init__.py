from .convnextv2 import ConvNeXtV2, ConvNeXtV2Block

__all__ = ['ConvNeXtV2', 'ConvNeXtV2Block']
from .sparse_convnextv2 import SPARSE_BACKENDS, SparseConvNeXtV2

__all__ += ['SPARSE_BACKENDS', 'SparseConvNeXtV2']
