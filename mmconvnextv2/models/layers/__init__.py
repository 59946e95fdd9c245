from .drop_path import DropPath
from .grn import GRN
from .norm import LayerNorm2d

__all__ = ['DropPath', 'GRN', 'LayerNorm2d']
