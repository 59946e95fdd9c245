"""Training-engine parts of mmconvnextv2; importing this module registers them."""
from .hooks import AtomicCheckpointHook, OptimStepEMAHook, RandomStateHook
from .model_wrappers import CPUDistributedDataParallel
from .optimizers import LayerDecayOptimWrapperConstructor
from .runner import MultiResolutionTestLoop
from .schedulers import LinearWarmupLR

__all__ = ['AtomicCheckpointHook', 'CPUDistributedDataParallel',
           'LayerDecayOptimWrapperConstructor', 'LinearWarmupLR', 'MultiResolutionTestLoop',
           'OptimStepEMAHook', 'RandomStateHook']
