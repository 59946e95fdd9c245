"""Hooks for the kill-and-resume tests: record each loss, and kill the process at a chosen point."""
import json
import os
import os.path as osp
import signal

from mmengine.fileio import LocalBackend
from mmengine.hooks import Hook
from mmengine.registry import HOOKS

LOSSES_FILE = 'losses.jsonl'


def _kill_self() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


@HOOKS.register_module()
class LossRecorderHook(Hook):
    """Appends ``{"iter": i, "loss": l}`` to ``losses.jsonl`` in the work dir after each step."""

    priority = 'HIGHEST'

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        with open(osp.join(runner.work_dir, LOSSES_FILE), 'a') as f:
            f.write(json.dumps(dict(iter=runner.iter, loss=float(outputs['loss']))) + '\n')


@HOOKS.register_module()
class KillAtIterHook(Hook):
    """SIGKILLs the training process right after iteration ``at_iter`` (0-based) has run."""

    priority = 'LOWEST'

    def __init__(self, at_iter: int) -> None:
        self.at_iter = at_iter

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if runner.iter == self.at_iter:
            _kill_self()


@HOOKS.register_module()
class KillWhileSavingHook(Hook):
    """SIGKILLs the process halfway through writing the ``at_save``-th checkpoint (1-based)."""

    def __init__(self, at_save: int) -> None:
        self.at_save = at_save
        self.saves = 0

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        self.saves += 1
        if self.saves != self.at_save:
            return

        def write_half_then_die(backend, obj: bytes, filepath) -> None:
            with open(filepath, 'wb') as f:
                f.write(obj[:len(obj) // 2])
            _kill_self()

        LocalBackend.put = write_half_then_die
