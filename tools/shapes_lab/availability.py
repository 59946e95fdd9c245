"""What this installation cannot run on a device, and why: each probe returns the reason and
the fix, or None when the device can run it."""
import torch

from benchmarks.encoders import encoder_name
from mmconvnextv2.models.backbones.row_depthwise import fused_kernels


def spconv_unavailable(device: torch.device) -> str | None:
    """Why the ``spconv`` backend cannot run on ``device``, or None when it can.

    spconv is part of the project's environment on every device (``requirements/spconv.txt``,
    the CPU wheel on a CPU machine), so a missing one makes the row unavailable on the CPU too.
    """
    try:
        import spconv
        from spconv.cppconstants import CPU_ONLY_BUILD
    except ImportError as error:
        return (f'spconv is not installed ({error}): tools/setup_env.sh installs it (the CPU '
                'wheel, or spconv-cu126 on a GPU machine); offline, bring its wheels '
                '(docs/gpu.md)')
    if device.type == 'cuda' and CPU_ONLY_BUILD:
        return (f'spconv {spconv.__version__} is the CPU-only wheel: CUDA needs a CUDA wheel such '
                'as spconv-cu126 (pip uninstall spconv cumm, then pip install spconv-cu126; '
                'tools/setup_env.sh does this on a GPU machine)')
    return None


def row_kernels_unavailable(device: torch.device) -> str | None:
    """Why the row depthwise kernels do not compile on ``device``, or None when they do."""
    if fused_kernels(device.type) is None:
        return (f'torch.compile of the row depthwise conv failed on {device.type} (the warning '
                "in the stage's console log says why): it needs triton on CUDA (part of the CUDA "
                'builds of torch on PyPI), a C++ compiler on the CPU')
    return None


def encoders_unavailable(device: torch.device) -> dict[str, str]:
    """Why each of the :data:`~shapes_lab.gpu_stages.ENCODER_CASES` that ``device`` cannot run
    cannot, by name."""
    reasons = {'spconv': spconv_unavailable(device),
               encoder_name('gather', 'rows'): row_kernels_unavailable(device)}
    return {name: reason for name, reason in reasons.items() if reason}


def mmcv_ops_unavailable(device: torch.device) -> str | None:
    """Why mmcv's ops (RoIAlign, NMS) cannot run on ``device``, or None when they can."""
    from mmcv.ops import get_compiling_cuda_version
    if device.type == 'cuda' and get_compiling_cuda_version() == 'not available':
        return ('mmcv was built without CUDA kernels: rebuild it with them (make setup on the GPU '
                "machine, with an nvcc of torch's CUDA major version; or FORCE_CUDA=1 "
                'tools/build_mmcv.sh, after tools/cuda_build_preflight.sh; docs/gpu.md)')
    return None
