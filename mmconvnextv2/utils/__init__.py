from .atomic_write import (atomic_write, atomic_write_bytes, atomic_write_text, fsync_directory,
                           replace_durably)
from .checkpoint import allow_mmengine_checkpoint_types
from .setup_env import SCOPE, register_all_modules, register_config_scope

__all__ = ['SCOPE', 'allow_mmengine_checkpoint_types', 'atomic_write', 'atomic_write_bytes',
           'atomic_write_text', 'fsync_directory', 'register_all_modules', 'register_config_scope',
           'replace_durably']
