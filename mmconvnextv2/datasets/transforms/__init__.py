"""Data transforms of mmconvnextv2."""
from .loading import ON_ERROR_CHOICES, LoadImageFromFileChecked, UnreadableImageError

__all__ = ['ON_ERROR_CHOICES', 'LoadImageFromFileChecked', 'UnreadableImageError']
