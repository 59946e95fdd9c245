"""A hook for the distributed test: every rank writes its final parameters to the work dir."""
import os.path as osp

import torch
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS


@HOOKS.register_module()
class RankStateHook(Hook):
    """Saves the model's state dict before (``rank{r}_init.pth``) and after training
    (``rank{r}.pth``), on every rank."""

    def before_train(self, runner) -> None:
        self._save(runner, f'rank{get_rank()}_init.pth')

    def after_train(self, runner) -> None:
        self._save(runner, f'rank{get_rank()}.pth')

    @staticmethod
    def _save(runner, name: str) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        torch.save(model.state_dict(), osp.join(runner.work_dir, name))
