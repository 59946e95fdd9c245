from .atomic_write import (atomic_write, atomic_write_bytes, atomic_write_text, fsync_directory,
                           replace_durably)
from .checkpoint import allow_mmengine_checkpoint_types, load_weights_only
from .config import load_config
from .runner import build_runner, count_accumulation_in_lr_scaling, use_amp
from .setup_env import SCOPE, package_config, register_all_modules, register_config_scope

__all__ = ['SCOPE', 'allow_mmengine_checkpoint_types', 'atomic_write', 'atomic_write_bytes',
           'atomic_write_text', 'build_runner', 'count_accumulation_in_lr_scaling',
           'fsync_directory', 'load_config', 'load_weights_only', 'package_config',
           'register_all_modules', 'register_config_scope', 'replace_durably', 'use_amp']
