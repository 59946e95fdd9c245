"""RandomStateHook and AtomicCheckpointHook on a toy mmengine run (the kill-and-resume tests in
tests/test_reliability exercise them on the real models)."""
import logging
import os
import os.path as osp
import random

import numpy as np
import pytest
import torch
from mmengine.model import BaseModel
from mmengine.runner import Runner

import mmconvnextv2.engine  # noqa: F401
from mmconvnextv2.engine.hooks import RandomStateHook, random_state_hook
from mmconvnextv2.engine.hooks.random_state_hook import capture_random_state


def draws() -> tuple:
    return random.random(), float(np.random.rand()), float(torch.rand(()))


class _CheckpointOnly:
    """The part of a runner the hook reads when it loads."""
    seed = 11
    logger = logging.getLogger('test')


def test_saved_state_is_restored_on_rank_zero():
    hook, checkpoint = RandomStateHook(), {}
    hook.before_save_checkpoint(None, checkpoint)
    expected = draws()
    draws()  # the killed run goes on drawing
    hook.after_load_checkpoint(_CheckpointOnly(), checkpoint)
    assert draws() == expected


def test_other_ranks_are_reseeded_apart_and_reproducibly(monkeypatch):
    checkpoint = {'random_state': capture_random_state(), 'meta': {'iter': 40}}
    rank_draws = {}
    for rank in (1, 2, 1):
        monkeypatch.setattr(random_state_hook, 'get_rank', lambda rank=rank: rank)
        RandomStateHook().after_load_checkpoint(_CheckpointOnly(), checkpoint)
        rank_draws.setdefault(rank, []).append(draws())
    assert rank_draws[1][0] == rank_draws[1][1] != rank_draws[2][0]


def test_checkpoint_without_state_warns(caplog):
    with caplog.at_level(logging.WARNING, logger='test'):
        RandomStateHook().after_load_checkpoint(_CheckpointOnly(), {})
    assert 'RandomStateHook' in caplog.text


class ToyModel(BaseModel):

    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(2, 1)

    def forward(self, inputs, mode='loss'):
        return dict(loss=self.linear(inputs).pow(2).mean())


@pytest.mark.parametrize('max_keep', [1, 2])
def test_atomic_hook_keeps_the_newest_whole_checkpoints(tmp_path, max_keep):
    data = [dict(inputs=torch.randn(2)) for _ in range(4)]
    runner = Runner(
        model=ToyModel(), work_dir=str(tmp_path),
        train_dataloader=dict(dataset=data, sampler=dict(type='DefaultSampler', shuffle=False),
                              batch_size=2, collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)),
        train_cfg=dict(by_epoch=True, max_epochs=3),
        default_hooks=dict(checkpoint=dict(type='mmconvnextv2.AtomicCheckpointHook', interval=1,
                                           max_keep_ckpts=max_keep)),
        custom_hooks=[dict(type='mmconvnextv2.RandomStateHook')],
        default_scope='mmengine')
    runner.train()
    kept = [f'epoch_{epoch}.pth' for epoch in range(4 - max_keep, 4)]
    assert sorted(name for name in os.listdir(tmp_path) if name.endswith('.pth')) == kept
    assert not [name for name in os.listdir(tmp_path) if name.endswith('.partial')]
    with open(tmp_path / 'last_checkpoint') as f:
        assert f.read() == osp.join(str(tmp_path), 'epoch_3.pth')
    checkpoint = torch.load(tmp_path / 'epoch_3.pth', weights_only=False)
    assert checkpoint['meta']['epoch'] == 3 and 'random_state' in checkpoint
