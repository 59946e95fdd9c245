"""Registries of the ``mmconvnextv2`` scope.

Each is a direct child of mmengine's root registry of its kind: mmengine resolves a scoped name
``'<scope>.<Name>'`` only in a registry's own children or in the root's children, so only a child
of the root is reachable as ``'mmconvnextv2.<Name>'`` from the mmpretrain, mmdet and mmseg scopes
alike. Unscoped names our registry lacks are looked up in mmpretrain's registry of the same kind
(and through it in mmengine's root), so a config in our scope still finds everything mmpretrain
and mmengine register, with mmpretrain's classes first as before. (Batch augmentations are the
exception: mmpretrain keeps them in a tree of their own, under which ours hangs.)

Every registry names the modules that register into it (its ``locations``), imported at its first
lookup. None is left without: for a registry without locations whose scope is in mmengine's
``MODULE2PACKAGE`` (where :func:`mmconvnextv2.register_config_scope` puts ours), mmengine instead
calls ``mmconvnextv2.utils.register_all_modules`` and imports every subpackage on, say, an
optimizer lookup.
"""

import mmengine.registry as mmengine_registry
import mmpretrain.registry as mmpretrain_registry
from mmengine.registry import Registry


class _ScopeRegistry(Registry):
    """A root child of scope ``mmconvnextv2`` whose unscoped misses go to ``fallback``.

    Args:
        name: Registry name.
        parent: mmengine's root registry of this kind (mmpretrain's for batch augmentations).
        fallback: mmpretrain's registry of this kind.
        locations: Modules to import before the first lookup: those that register our classes
            of this kind, or this module when none does. Not empty.
    """

    def __init__(self, name: str, parent: Registry, fallback: Registry,
                 locations: list[str]) -> None:
        if not locations:
            raise ValueError(f'The {name!r} registry of mmconvnextv2 needs locations: the modules '
                             f'that register into it, or {__name__!r} when none does (see the '
                             'module docstring).')
        super().__init__(name, parent=parent, scope='mmconvnextv2', locations=locations)
        self.fallback = fallback

    def get(self, key: str) -> type | None:
        """Our class for ``key``; for an unscoped ``key`` we lack, mmpretrain's (or mmengine's)."""
        self.import_from_location()
        scope, real_key = self.split_scope_key(key)
        if scope is None and real_key not in self._module_dict:
            return self.fallback.get(key)
        return super().get(key)


def _scope_registry(kind: str, name: str, locations: list[str]) -> _ScopeRegistry:
    """Our registry of ``kind`` (``'MODELS'``, ...): mmengine's child, mmpretrain's fallback."""
    return _ScopeRegistry(name, getattr(mmengine_registry, kind),
                          getattr(mmpretrain_registry, kind), locations)


# The kinds we register classes in.
MODELS = _scope_registry('MODELS', 'model', ['mmconvnextv2.models'])
WEIGHT_INITIALIZERS = _scope_registry('WEIGHT_INITIALIZERS', 'weight initializer',
                                      ['mmconvnextv2.models'])
DATASETS = _scope_registry('DATASETS', 'dataset', ['mmconvnextv2.datasets'])
TRANSFORMS = _scope_registry('TRANSFORMS', 'transform', ['mmconvnextv2.datasets'])
OPTIM_WRAPPER_CONSTRUCTORS = _scope_registry(
    'OPTIM_WRAPPER_CONSTRUCTORS', 'optimizer wrapper constructor', ['mmconvnextv2.engine'])
LOOPS = _scope_registry('LOOPS', 'loop', ['mmconvnextv2.engine'])
MODEL_WRAPPERS = _scope_registry('MODEL_WRAPPERS', 'model_wrapper', ['mmconvnextv2.engine'])
HOOKS = _scope_registry('HOOKS', 'hook', ['mmconvnextv2.engine'])
OPTIM_WRAPPERS = _scope_registry('OPTIM_WRAPPERS', 'optim_wrapper', ['mmconvnextv2.engine'])
PARAM_SCHEDULERS = _scope_registry('PARAM_SCHEDULERS', 'parameter scheduler',
                                   ['mmconvnextv2.engine'])

# Kinds we only resolve. mmengine tags what configs inherit as ``mmconvnextv2::`` bases with
# ``_scope_='mmconvnextv2'`` (optimizers, samplers, metrics, ...); without a registry of that
# scope, mmengine would warn and fall back to its own root, which lacks mmpretrain's classes.
# Nothing of ours registers in them: their location is this module, already imported.
OPTIMIZERS = _scope_registry('OPTIMIZERS', 'optimizer', [__name__])
DATA_SAMPLERS = _scope_registry('DATA_SAMPLERS', 'data sampler', [__name__])
METRICS = _scope_registry('METRICS', 'metric', [__name__])
LOG_PROCESSORS = _scope_registry('LOG_PROCESSORS', 'log_processor', [__name__])
VISUALIZERS = _scope_registry('VISUALIZERS', 'visualizer', [__name__])
VISBACKENDS = _scope_registry('VISBACKENDS', 'vis_backend', [__name__])
# mmpretrain's batch augmentations (mixup, cutmix) form a tree of their own, without mmengine.
BATCH_AUGMENTS = _ScopeRegistry('batch augment', mmpretrain_registry.BATCH_AUGMENTS,
                                mmpretrain_registry.BATCH_AUGMENTS, [__name__])
