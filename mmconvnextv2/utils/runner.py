"""The runner of a config, as ``tools/train.py`` and ``tools/test.py`` build it, the mixed
precision of ``tools/train.py --amp``, and the official lr rule with gradient accumulation.

Here, beside the config loading, and not in :mod:`mmconvnextv2.engine`: it needs mmengine only, and
importing the engine's hooks imports mmpretrain's models (and through them mmdet and pycocotools),
which ``tools/train.py --help`` should not wait for.

The same code serves mmpretrain, mmdet and mmseg configs: each config names its own
``default_scope`` (and ``runner_type`` where the library has one), and our modules are reached as
``mmconvnextv2.<Name>``.
"""
import uuid

import torch
import torch.distributed as dist
from mmengine.config import Config
from mmengine.logging import print_log
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from .checkpoint import allow_mmengine_checkpoint_types


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

    Raises:
        ValueError: If ``dtype`` is another, or float16 without CUDA.
    """
    if dtype is None:
        dtype = 'float16' if torch.cuda.is_available() else 'bfloat16'
    if dtype not in ('float16', 'bfloat16'):
        raise ValueError(f"Mixed precision trains in 'float16' or 'bfloat16', got {dtype!r}.")
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


def count_accumulation_in_lr_scaling(cfg: Config) -> None:
    """Makes mmengine's ``auto_scale_lr`` scale by the effective batch, accumulation included.

    The official ``main_pretrain.py`` and ``main_finetune.py`` set ``lr = blr * eff_batch / 256``
    with ``eff_batch = batch per GPU * update_freq * GPUs``. mmengine's ``Runner.scale_lr``
    multiplies the config's lr by ``GPUs * batch per GPU / auto_scale_lr.base_batch_size`` and
    leaves out gradient accumulation (``optim_wrapper.accumulative_counts``), so 8 GPUs x 32
    images x 4 accumulated steps would get a quarter of the lr of 32 GPUs x 32 images, although
    both update the weights with gradients of 1024 images. Dividing ``base_batch_size`` by the
    accumulation count makes mmengine's ratio ``GPUs * batch * counts / base_batch_size``.

    Does nothing when lr scaling is off or nothing is accumulated.

    Args:
        cfg: The config, changed in place.

    Raises:
        ValueError: If ``accumulative_counts`` is not a positive integer.
    """
    auto_scale_lr = cfg.get('auto_scale_lr')
    if not auto_scale_lr or not auto_scale_lr.get('enable', False):
        return
    counts = cfg.optim_wrapper.get('accumulative_counts', 1)
    if not isinstance(counts, int) or counts < 1:
        raise ValueError(f'optim_wrapper.accumulative_counts must be a positive integer, got '
                         f'{counts!r}')
    if counts == 1:
        return
    base = auto_scale_lr.base_batch_size
    auto_scale_lr.base_batch_size = base / counts
    print_log(f'Gradient accumulation over {counts} iterations: the lr follows the effective '
              f'batch (processes x batch x {counts}), so auto_scale_lr.base_batch_size {base} '
              f'becomes {base / counts:g} images per iteration.', logger='current')
