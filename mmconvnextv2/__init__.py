"""ConvNeXt V2 on the OpenMMLab stack: GRN, the backbone, FCMAE and downstream recipes.

Importing the package makes ``mmconvnextv2::`` config bases resolvable and lets checkpoints written
by mmengine runners load with torch's weights-only unpickler.
"""
from .utils import allow_mmengine_checkpoint_types, register_all_modules, register_config_scope
from .version import __version__

register_config_scope()
allow_mmengine_checkpoint_types()

__all__ = ['__version__', 'register_all_modules']
