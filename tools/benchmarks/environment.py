"""What a benchmark or check ran on: mmengine's ``collect_env``, and what it leaves out."""
import platform
from importlib import metadata

import torch
from mmengine.utils.dl_utils import collect_env

# The libraries whose versions a report names, beyond those collect_env names.
LIBRARIES = ('mmcv', 'mmpretrain', 'mmdet', 'mmsegmentation', 'timm', 'spconv', 'mmconvnextv2')


def cpu_model() -> str:
    """The CPU's model name from ``/proc/cpuinfo`` (or :func:`platform.processor`)."""
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or 'unknown'


def library_version(name: str) -> str:
    """The installed version of distribution ``name`` (spconv: with its build), or 'none'."""
    if name == 'spconv':
        try:
            import spconv
            from spconv.cppconstants import CPU_ONLY_BUILD
        except ImportError:
            return 'none'
        return f'{spconv.__version__} ({"CPU only" if CPU_ONLY_BUILD else "CUDA"})'
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return 'none'


def environment() -> dict[str, str]:
    """mmengine's ``collect_env`` (Python, torch and its build, CUDA, GPUs, compiler, mmengine),
    the versions of :data:`LIBRARIES`, whether mmcv has CUDA kernels, and the CPU and threads that
    set a CPU timing."""
    info = {key: str(value) for key, value in collect_env().items()}
    info.update({name: library_version(name) for name in LIBRARIES})
    try:
        from mmcv.ops import get_compiling_cuda_version
        info['mmcv ops CUDA'] = get_compiling_cuda_version()
    except ImportError:
        info['mmcv ops CUDA'] = 'no mmcv ops'
    info.update({'CPU': cpu_model(), 'CPU capability': torch.backends.cpu.get_cpu_capability(),
                 'threads': str(torch.get_num_threads())})
    return info
