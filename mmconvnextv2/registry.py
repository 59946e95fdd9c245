"""Registries of the ``mmconvnextv2`` scope.

Each is a direct child of mmengine's root registry of its kind: mmengine resolves a scoped name
``'<scope>.<Name>'`` only in a registry's own children or in the root's children, so only a child
of the root is reachable as ``'mmconvnextv2.<Name>'`` from the mmpretrain, mmdet and mmseg scopes
alike. Unscoped names our registry lacks are looked up in mmpretrain's registry of the same kind
(and through it in mmengine's root), so a config in our scope still finds everything mmpretrain
and mmengine register, with mmpretrain's classes first as before.
"""
from typing import Optional

from mmengine.registry import DATASETS as MMENGINE_DATASETS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import \
    OPTIM_WRAPPER_CONSTRUCTORS as MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS
from mmengine.registry import TRANSFORMS as MMENGINE_TRANSFORMS
from mmengine.registry import Registry
from mmpretrain.registry import DATASETS as MMPRETRAIN_DATASETS
from mmpretrain.registry import MODELS as MMPRETRAIN_MODELS
from mmpretrain.registry import \
    OPTIM_WRAPPER_CONSTRUCTORS as MMPRETRAIN_OPTIM_WRAPPER_CONSTRUCTORS
from mmpretrain.registry import TRANSFORMS as MMPRETRAIN_TRANSFORMS


class _ScopeRegistry(Registry):
    """A root child of scope ``mmconvnextv2`` whose unscoped misses go to ``fallback``.

    Args:
        name: Registry name.
        parent: mmengine's root registry of this kind.
        fallback: mmpretrain's registry of this kind.
        locations: Modules to import before a lookup; they register our classes.
    """

    def __init__(self, name: str, parent: Registry, fallback: Registry,
                 locations: list[str]) -> None:
        super().__init__(name, parent=parent, scope='mmconvnextv2', locations=locations)
        self.fallback = fallback

    def get(self, key: str) -> Optional[type]:
        """Our class for ``key``; for an unscoped ``key`` we lack, mmpretrain's (or mmengine's)."""
        self.import_from_location()
        scope, real_key = self.split_scope_key(key)
        if scope is None and real_key not in self._module_dict:
            return self.fallback.get(key)
        return super().get(key)


MODELS = _ScopeRegistry('model', MMENGINE_MODELS, MMPRETRAIN_MODELS, ['mmconvnextv2.models'])
DATASETS = _ScopeRegistry('dataset', MMENGINE_DATASETS, MMPRETRAIN_DATASETS,
                          ['mmconvnextv2.datasets'])
TRANSFORMS = _ScopeRegistry('transform', MMENGINE_TRANSFORMS, MMPRETRAIN_TRANSFORMS,
                            ['mmconvnextv2.datasets'])
OPTIM_WRAPPER_CONSTRUCTORS = _ScopeRegistry(
    'optimizer wrapper constructor', MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS,
    MMPRETRAIN_OPTIM_WRAPPER_CONSTRUCTORS, ['mmconvnextv2.engine'])
