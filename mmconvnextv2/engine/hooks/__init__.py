from .atomic_checkpoint_hook import AtomicCheckpointHook
from .optim_step_ema_hook import OptimStepEMAHook
from .random_state_hook import RandomStateHook

__all__ = ['AtomicCheckpointHook', 'OptimStepEMAHook', 'RandomStateHook']
