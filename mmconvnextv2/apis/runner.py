"""Config loading and runner construction shared by ``tools/train.py``, ``tools/test.py`` and the demo.

The same code serves mmpretrain, mmdet and mmseg configs: each config names its own
``default_scope`` (and ``runner_type`` where the library has one), and our modules are reached as
``mmconvnextv2.<Name>``.
"""
import os.path as osp
from typing import Optional

from mmengine.config import Config
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

import mmconvnextv2  # noqa: F401  (registers the ``mmconvnextv2::`` config scope first)


def load_config(path: str, work_dir: Optional[str] = None,
                cfg_options: Optional[dict] = None) -> Config:
    """Reads a config, applies overrides and sets the work directory.

    Args:
        path: Config file.
        work_dir: Where logs and checkpoints go; defaults to ``work_dirs/<config name>``.
        cfg_options: ``key=value`` overrides merged into the config.

    Returns:
        The config, ready for :func:`build_runner`.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'Config file {path!r} does not exist.')
    cfg = Config.fromfile(path)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('work_dirs', osp.splitext(osp.basename(path))[0])
    return cfg


def build_runner(cfg: Config) -> Runner:
    """Builds the runner the config asks for (``runner_type``) or mmengine's default one."""
    if 'runner_type' in cfg:
        return RUNNERS.build(cfg)
    return Runner.from_cfg(cfg)
