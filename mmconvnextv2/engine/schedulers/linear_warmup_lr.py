"""Linear learning-rate warm-up that may start from zero, as the official ConvNeXt V2 recipes."""
from mmengine.optim import BaseOptimWrapper, LinearLR
from torch.optim import Optimizer

from mmconvnextv2.registry import PARAM_SCHEDULERS


@PARAM_SCHEDULERS.register_module()
class LinearWarmupLR(LinearLR):
    """mmengine's ``LinearLR`` in closed form, so that ``start_factor=0`` works.

    The factor on each group's initial lr goes linearly from ``start_factor`` at ``begin`` to
    ``end_factor`` at ``end - 1``, as in ``LinearLR``. ``LinearLR`` computes each value from the
    previous one and divides by ``start_factor``, so it cannot start from zero; the official
    ``utils.adjust_learning_rate`` does (``lr * epoch / warmup_epochs``, epoch fractional). Here
    each value is ``initial_lr * factor(step)``. With ``start_factor=0`` and ``T = end - begin``
    iterations, the lr of iteration ``i`` is ``lr * i / (T - 1)`` where the official one is
    ``lr * i / T``: it reaches ``lr`` one iteration earlier, so that a following scheduler (which
    continues from the current value) starts from ``lr`` exactly.

    Being closed-form, it sets the lr outright: do not run another lr scheduler over the same
    iterations.

    Args:
        optimizer: The optimizer (wrapper).
        start_factor: Factor at ``begin``, in [0, 1]. Defaults to 0.
        end_factor: Factor at ``end - 1``, in [0, 1]. Defaults to 1.
        **kwargs: ``begin``, ``end``, ``by_epoch``, ``last_step``, ``verbose`` as ``LinearLR``.
    """

    def __init__(self, optimizer: Optimizer | BaseOptimWrapper, start_factor: float = 0.0,
                 end_factor: float = 1.0, **kwargs) -> None:
        super().__init__(optimizer, start_factor=start_factor, end_factor=end_factor, **kwargs)

    def _get_value(self) -> list[float]:
        steps = self.total_iters  # end - begin - 1: the factor reaches end_factor there
        progress = min(self.last_step, steps) / steps if steps > 0 else 0.0
        factor = self.start_factor + (self.end_factor - self.start_factor) * progress
        return [base * factor for base in self.base_values]
