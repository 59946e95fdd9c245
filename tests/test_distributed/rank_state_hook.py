"""A hook for the distributed test: every rank writes the gradients of each optimiser step and its
final parameters to the work dir, and can plant a gradient-averaging fault."""
import os.path as osp

import torch
import torch.distributed as dist
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS
from torch.distributed.algorithms.ddp_comm_hooks.default_hooks import allreduce_hook
from torch.futures import Future

FAULTS = ('drop_rank1', 'no_average')


def _drop_rank1(process_group: dist.ProcessGroup | None,
                bucket: dist.GradBucket) -> Future[torch.Tensor]:
    """Averages as DDP does, but rank 1 contributes zeros: its half of the batch is lost."""
    if get_rank() == 1:
        bucket.buffer().zero_()
    return allreduce_hook(process_group, bucket)


def _no_average(process_group: dist.ProcessGroup | None,
                bucket: dist.GradBucket) -> Future[torch.Tensor]:
    """Communicates nothing: each rank steps on its own gradients."""
    done: Future[torch.Tensor] = Future()
    done.set_result(bucket.buffer())
    return done


@HOOKS.register_module()
class RankStateHook(Hook):
    """Saves, on every rank, the gradients each optimiser step receives (``rank{r}_grads.pth``, a
    list of ``{name: grad}`` per step) and the final state dict (``rank{r}.pth``).

    Args:
        fault: None, or a planted fault of the gradient averaging, installed as a DDP
            communication hook: ``'drop_rank1'`` (rank 1's gradients replaced by zeros) or
            ``'no_average'`` (no communication at all).
    """

    def __init__(self, fault: str | None = None) -> None:
        if fault is not None and fault not in FAULTS:
            raise ValueError(f'fault must be None or one of {FAULTS}, got {fault!r}')
        self.fault = fault
        self.grads: list[dict[str, torch.Tensor]] = []

    def before_train(self, runner) -> None:
        if self.fault is not None:
            if not is_model_wrapper(runner.model):
                raise RuntimeError('A planted fault needs a distributed run (--launcher pytorch).')
            hook = _drop_rank1 if self.fault == 'drop_rank1' else _no_average
            runner.model.register_comm_hook(None, hook)
        names = {id(p): name for name, p in self._module(runner).named_parameters()}

        def record(optimizer: torch.optim.Optimizer, args, kwargs) -> None:
            self.grads.append({
                names[id(p)]: p.grad.detach().clone()
                for group in optimizer.param_groups for p in group['params']
                if p.grad is not None})

        runner.optim_wrapper.optimizer.register_step_pre_hook(record)

    def after_train(self, runner) -> None:
        torch.save(self.grads, osp.join(runner.work_dir, f'rank{get_rank()}_grads.pth'))
        torch.save(self._module(runner).state_dict(),
                   osp.join(runner.work_dir, f'rank{get_rank()}.pth'))

    @staticmethod
    def _module(runner) -> torch.nn.Module:
        return runner.model.module if is_model_wrapper(runner.model) else runner.model
