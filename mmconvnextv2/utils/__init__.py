from .checkpoint import allow_mmengine_checkpoint_types
from .setup_env import SCOPE, register_all_modules, register_config_scope

__all__ = ['SCOPE', 'allow_mmengine_checkpoint_types', 'register_all_modules',
           'register_config_scope']
