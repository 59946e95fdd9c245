"""The package's inference API: the model zoo by name in mmpretrain's, mmdet's and mmseg's own
inference entry points (:func:`register_zoo`)."""
from .inference import register_zoo, zoo_root

__all__ = ['register_zoo', 'zoo_root']
