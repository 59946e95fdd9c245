"""Checkpoints never half-written, and a ``last_checkpoint`` that always names a whole one."""
import os
import os.path as osp

from mmengine.dist import is_main_process
from mmengine.fileio import LocalBackend
from mmengine.hooks import CheckpointHook

from mmconvnextv2.registry import HOOKS
from mmconvnextv2.utils import atomic_write_text, replace_durably

PARTIAL_SUFFIX = '.partial'


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """mmengine's ``CheckpointHook`` whose checkpoints appear whole or not at all.

    mmengine writes a checkpoint straight to its final name, after deleting the oldest one it
    keeps, and then rewrites ``last_checkpoint`` in place; a kill in between leaves a truncated
    checkpoint, or ``last_checkpoint`` naming a deleted or empty file. Here a checkpoint is
    written as ``<name>.partial``, flushed and renamed; then ``last_checkpoint`` is replaced the
    same way; only then are checkpoints beyond ``max_keep_ckpts`` deleted. Takes the same
    arguments as ``CheckpointHook``; the checkpoint directory must be on the local file system.
    """

    def before_train(self, runner) -> None:
        super().before_train(runner)
        if not isinstance(self.file_backend, LocalBackend):
            raise ValueError(
                f'AtomicCheckpointHook writes checkpoints by renaming local files, but out_dir '
                f'{self.out_dir!r} is on a {type(self.file_backend).__name__}; use mmengine\'s '
                'CheckpointHook for remote storage.')

    def _save_checkpoint_with_step(self, runner, step: int, meta: dict) -> None:
        stale_steps = self._steps_beyond_max_keep(runner, step)
        filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir, filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        runner.save_checkpoint(
            self.out_dir, filename + PARTIAL_SUFFIX, self.file_client_args,
            save_optimizer=self.save_optimizer, save_param_scheduler=self.save_param_scheduler,
            meta=meta, by_epoch=self.by_epoch, backend_args=self.backend_args, **self.args)
        if not is_main_process():
            return
        replace_durably(self.last_ckpt + PARTIAL_SUFFIX, self.last_ckpt)
        atomic_write_text(osp.join(runner.work_dir, 'last_checkpoint'), self.last_ckpt)
        for stale in stale_steps:
            path = self.file_backend.join_path(self.out_dir, self.filename_tmpl.format(stale))
            if osp.isfile(path):
                os.remove(path)

    def _steps_beyond_max_keep(self, runner, step: int) -> list:
        """Records ``step`` among the kept checkpoints; returns the steps that fall out."""
        if self.max_keep_ckpts <= 0 or (self.keep_ckpt_ids and self.keep_ckpt_ids[-1] == step):
            return []
        stale = []
        while len(self.keep_ckpt_ids) >= self.max_keep_ckpts:
            stale.append(self.keep_ckpt_ids.popleft())
        self.keep_ckpt_ids.append(step)
        runner.message_hub.update_info('keep_ckpt_ids', list(self.keep_ckpt_ids))
        return stale
