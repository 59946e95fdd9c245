"""Training-engine parts of mmconvnextv2; importing this module registers them."""
from .hooks import AtomicCheckpointHook, RandomStateHook
from .model_wrappers import CPUDistributedDataParallel
from .optimizers import LayerDecayOptimWrapperConstructor
from .runner import MultiResolutionTestLoop

__all__ = ['AtomicCheckpointHook', 'CPUDistributedDataParallel',
           'LayerDecayOptimWrapperConstructor', 'MultiResolutionTestLoop', 'RandomStateHook']
