"""Data-parallel training of a CPU model (gloo), which mmengine's DDP wrapper cannot start."""

from mmengine.model import MMDistributedDataParallel
from torch import nn

from mmconvnextv2.registry import MODEL_WRAPPERS


@MODEL_WRAPPERS.register_module()
class CPUDistributedDataParallel(MMDistributedDataParallel):
    """mmengine's ``MMDistributedDataParallel`` for a module on the CPU.

    mmengine's runner always passes ``device_ids=[LOCAL_RANK]``, which torch's DDP refuses for a
    CPU module; here it is dropped. Everything else (``train_step``, gradient averaging) is
    mmengine's.

    Args:
        module: The model, on the CPU.
        device_ids: Ignored for a CPU module; must be None or one id otherwise.
        **kwargs: Passed to ``MMDistributedDataParallel``.
    """

    def __init__(self, module: nn.Module, device_ids: list[int] | None = None,
                 **kwargs) -> None:
        on_cpu = all(p.device.type == 'cpu' for p in module.parameters())
        super().__init__(module=module, device_ids=None if on_cpu else device_ids, **kwargs)
