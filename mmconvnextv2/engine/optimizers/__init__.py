from .autocast_optim_wrapper import MMDET_TWO_STAGE_AUTOCAST_MODULES, AutocastOptimWrapper
from .layer_decay_constructor import LayerDecayOptimWrapperConstructor

__all__ = ['AutocastOptimWrapper', 'LayerDecayOptimWrapperConstructor',
           'MMDET_TWO_STAGE_AUTOCAST_MODULES']
