from .lr_scaling import count_accumulation_in_lr_scaling
from .multi_resolution_test_loop import (MultiResolutionTestLoop, pipeline_at_resolution,
                                         resolution_transforms)

__all__ = ['MultiResolutionTestLoop', 'count_accumulation_in_lr_scaling',
           'pipeline_at_resolution', 'resolution_transforms']
