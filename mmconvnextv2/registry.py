"""Registries of the ``mmconvnextv2`` scope.

Each is a child of mmpretrain's registry of the same kind (itself a child of mmengine's root), so
a config in the mmpretrain, mmdet or mmseg scope reaches our modules as ``'mmconvnextv2.<Name>'``
and a config in our scope still finds everything mmpretrain and mmengine register.
"""
from mmengine.registry import Registry
from mmpretrain.registry import DATASETS as MMPRETRAIN_DATASETS
from mmpretrain.registry import MODELS as MMPRETRAIN_MODELS
from mmpretrain.registry import \
    OPTIM_WRAPPER_CONSTRUCTORS as MMPRETRAIN_OPTIM_WRAPPER_CONSTRUCTORS
from mmpretrain.registry import TRANSFORMS as MMPRETRAIN_TRANSFORMS

MODELS = Registry('model', parent=MMPRETRAIN_MODELS, scope='mmconvnextv2',
                  locations=['mmconvnextv2.models'])
DATASETS = Registry('dataset', parent=MMPRETRAIN_DATASETS, scope='mmconvnextv2',
                    locations=['mmconvnextv2.datasets'])
TRANSFORMS = Registry('transform', parent=MMPRETRAIN_TRANSFORMS, scope='mmconvnextv2',
                      locations=['mmconvnextv2.datasets'])
OPTIM_WRAPPER_CONSTRUCTORS = Registry(
    'optimizer wrapper constructor', parent=MMPRETRAIN_OPTIM_WRAPPER_CONSTRUCTORS,
    scope='mmconvnextv2', locations=['mmconvnextv2.engine'])
