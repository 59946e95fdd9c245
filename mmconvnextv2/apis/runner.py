"""Config loading and runner construction shared by ``tools/train.py``, ``tools/test.py`` and the
runs on the bundled data.

The same code serves mmpretrain, mmdet and mmseg configs: each config names its own
``default_scope`` (and ``runner_type`` where the library has one), and our modules are reached as
``mmconvnextv2.<Name>``.
"""
import os.path as osp
import uuid

import torch
import torch.distributed as dist
from mmengine.config import Config
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from mmconvnextv2.utils import (SCOPE, allow_mmengine_checkpoint_types, package_config,
                                register_config_scope)


def load_config(path: str, work_dir: str | None = None,
                cfg_options: dict | None = None) -> Config:
    """Reads a config, applies overrides and sets the work directory.

    Args:
        path: Config file, or ``<package>::<path>`` inside an installed package (e.g.
            ``mmconvnextv2::convnextv2/convnextv2-atto_shapes.py``), found wherever it is
            installed.
        work_dir: Where logs and checkpoints go; defaults to ``work_dirs/<config name>``.
        cfg_options: ``key=value`` overrides merged into the config.

    Returns:
        The config, ready for :func:`build_runner`.
    """
    scope, _, name = path.rpartition('::')
    if scope == SCOPE:
        path = package_config(name)
    elif scope:
        # mmengine's own resolution of ``_base_ = '<package>::...'``.
        path = Config._get_cfg_path(path, '')[0]
    if not osp.isfile(path):
        raise FileNotFoundError(f'Config file {path!r} does not exist.')
    # A config of the user's may inherit ours as ``mmconvnextv2::`` bases.
    register_config_scope()
    cfg = Config.fromfile(path)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('work_dirs', osp.splitext(osp.basename(path))[0])
    return cfg


def set_max_epochs(cfg: Config, epochs: int) -> None:
    """Trains an epoch-based config for ``epochs``, stretching schedules that ended at its end.

    A scheduler whose ``end`` was the old last epoch ends at the new one (a cosine one recomputes
    ``T_max`` from ``begin`` and ``end``); validation runs once, at the end.

    Raises:
        ValueError: If ``epochs`` leaves no epoch after a scheduler's ``begin``.
    """
    old = cfg.train_cfg.max_epochs
    for scheduler in cfg.param_scheduler:
        if scheduler.get('end') == old and scheduler.get('begin', 0) >= epochs:
            raise ValueError(f'{epochs} epochs end before the {scheduler.type} of the config '
                             f'begins (epoch {scheduler.begin}); train at least '
                             f'{scheduler.begin + 1} epochs.')
    cfg.train_cfg.max_epochs = epochs
    for scheduler in cfg.param_scheduler:
        if scheduler.get('end') == old:
            scheduler.end = epochs
            scheduler.pop('T_max', None)
    if cfg.get('val_cfg') is not None:
        cfg.train_cfg.val_interval = epochs


def _prepare_cpu_distributed(cfg: Config) -> None:
    """Lets ``launcher='pytorch'`` (torchrun) train on CPUs with gloo.

    mmengine's launcher calls ``torch.cuda.set_device`` and its DDP wrapper passes ``device_ids``;
    both fail without a GPU. Initialising the gloo process group first makes mmengine skip its own
    initialisation, and :class:`CPUDistributedDataParallel` drops the device ids.
    """
    if cfg.get('launcher', 'none') == 'none' or torch.cuda.is_available():
        return
    if cfg.launcher != 'pytorch':
        raise RuntimeError(f'Training on CPUs supports the pytorch launcher (torchrun, '
                           f'tools/dist_train.sh) only, got launcher={cfg.launcher!r}.')
    if not dist.is_initialized():
        dist.init_process_group(backend='gloo')
    cfg.setdefault('model_wrapper_cfg', dict(type='mmconvnextv2.CPUDistributedDataParallel'))
    cfg.setdefault('custom_imports', dict(imports=[]))
    cfg.custom_imports.setdefault('imports', [])
    if 'mmconvnextv2.engine' not in cfg.custom_imports.imports:
        cfg.custom_imports.imports.append('mmconvnextv2.engine')


def _own_visualizer(cfg: Config) -> None:
    """Gives the run a visualizer instance of its own.

    mmengine keeps one visualizer per name in a process, and mmdet's and mmseg's configs name
    theirs ``'visualizer'`` (mmengine names the others by config file and second): a later run in
    the same process got the earlier run's instance and logged into the earlier run's folder.
    """
    visualizer = cfg.get('visualizer')
    if isinstance(visualizer, dict):
        visualizer['name'] = f'{visualizer.get("name", "visualizer")}-{uuid.uuid4().hex}'


def build_runner(cfg: Config) -> Runner:
    """Builds the runner the config asks for (``runner_type``) or mmengine's default one.

    Each runner gets a visualizer of its own, so runs one after another in a process each log
    into their own folder. Distributed runs on CPUs (``launcher='pytorch'`` without a GPU) start
    a gloo process group. The runner's checkpoint loads (``load_from``, ``resume``) stay
    weights-only on torch >= 2.6 (:func:`~mmconvnextv2.utils.allow_mmengine_checkpoint_types`).
    """
    _prepare_cpu_distributed(cfg)
    _own_visualizer(cfg)
    allow_mmengine_checkpoint_types()
    if 'runner_type' in cfg:
        return RUNNERS.build(cfg)
    return Runner.from_cfg(cfg)


def use_amp(cfg: Config, dtype: str | None = None) -> None:
    """Switches ``cfg.optim_wrapper`` to mixed precision.

    float16 goes through mmengine's ``AmpOptimWrapper`` (dynamic loss scaling, CUDA only),
    bfloat16 through ``mmconvnextv2.AutocastOptimWrapper`` (no loss scaling, CPU or CUDA).

    Args:
        cfg: The config, changed in place.
        dtype: ``'float16'`` or ``'bfloat16'``; float16 when CUDA is available, else bfloat16.
    """
    if dtype is None:
        dtype = 'float16' if torch.cuda.is_available() else 'bfloat16'
    if dtype == 'float16':
        if not torch.cuda.is_available():
            raise ValueError('--amp-dtype float16 needs CUDA (mmengine\'s AmpOptimWrapper); '
                             'use --amp-dtype bfloat16 on the CPU.')
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    else:
        cfg.optim_wrapper.type = 'mmconvnextv2.AutocastOptimWrapper'
        # bf16 needs no loss scale; configs written for AmpOptimWrapper carry one.
        cfg.optim_wrapper.pop('loss_scale', None)
    cfg.optim_wrapper.dtype = dtype
