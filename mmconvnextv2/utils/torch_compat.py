"""The torch APIs newer than torch 2.1 (the oldest supported), each behind a feature check.

Every caller in the package goes through these functions, so the code runs unchanged from torch 2.1
to the newest release, with the same results.
"""
import torch
from packaging.version import Version

# (major, minor) of the running torch; ``2.1.2+cu121`` and ``2.6.0a0+git...`` alike.
TORCH_VERSION: tuple[int, int] = Version(torch.__version__).release[:2]
# From torch 2.6 on, ``torch.load`` unpickles weights-only by default, and its allow-list takes
# ``(object, 'module.name')`` entries; before, it unpickles everything by default.
LOADS_WEIGHTS_ONLY_BY_DEFAULT = TORCH_VERSION >= (2, 6)


def autocast_state(device_type: str) -> tuple[bool, torch.dtype]:
    """Whether autocast is on for ``device_type`` (``'cpu'``, ``'cuda'``), and its dtype.

    torch 2.4 added the device-generic ``torch.is_autocast_enabled(device_type)`` and
    ``torch.get_autocast_dtype(device_type)``; torch 2.1 to 2.3 have one function pair per device.
    """
    if hasattr(torch, 'get_autocast_dtype'):
        return torch.is_autocast_enabled(device_type), torch.get_autocast_dtype(device_type)
    if device_type == 'cpu':
        return torch.is_autocast_cpu_enabled(), torch.get_autocast_cpu_dtype()
    if device_type == 'cuda':
        return torch.is_autocast_enabled(), torch.get_autocast_gpu_dtype()
    raise ValueError(f'torch {torch.__version__} reports autocast for cpu and cuda only, got '
                     f'{device_type!r}; torch >= 2.4 reports it for every device.')
