from .multi_resolution_test_loop import (MultiResolutionTestLoop, pipeline_at_resolution,
                                         resolution_transforms)

__all__ = ['MultiResolutionTestLoop', 'pipeline_at_resolution', 'resolution_transforms']
