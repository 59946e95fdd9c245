"""The official lr rule, lr = blr x effective batch / 256, with gradient accumulation counted."""
import pytest
import torch
from mmengine.config import Config
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch import nn
from torch.utils.data import TensorDataset

from mmconvnextv2.utils import count_accumulation_in_lr_scaling

BLR = 6.25e-4  # per 256 images, the official --blr of base
CONFIG_BATCH = 1024  # the total batch the config's lr is written for


class Toy(BaseModel):

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(1, 1)

    def forward(self, *args, mode: str = 'tensor'):
        return self.linear(torch.zeros(1, 1))


def scaled_lr(batch: int, counts: int, enable: bool, tmp_path) -> float:
    """The lr a one-process run starts with after the config goes through tools/train.py."""
    cfg = Config(dict(
        work_dir=str(tmp_path),
        train_dataloader=dict(dataset=TensorDataset(torch.zeros(4, 1)), batch_size=batch,
                              sampler=dict(type='DefaultSampler', shuffle=False)),
        train_cfg=dict(by_epoch=True, max_epochs=1),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=BLR * CONFIG_BATCH / 256),
                           accumulative_counts=counts),
        auto_scale_lr=dict(base_batch_size=CONFIG_BATCH, enable=enable)))
    count_accumulation_in_lr_scaling(cfg)
    runner = Runner(model=Toy(), default_scope='mmengine', **cfg)
    wrapper = runner.build_optim_wrapper(runner.optim_wrapper)
    runner.scale_lr(wrapper, runner.auto_scale_lr)
    return wrapper.optimizer.param_groups[0]['lr']


@pytest.mark.parametrize('batch, counts', [(32, 1), (32, 4), (64, 8), (256, 1)])
def test_lr_follows_the_effective_batch(batch, counts, tmp_path):
    effective = 1 * batch * counts  # processes x batch per process x accumulated iterations
    assert scaled_lr(batch, counts, True, tmp_path) == pytest.approx(BLR * effective / 256)


def test_disabled_scaling_keeps_the_config_lr(tmp_path):
    assert scaled_lr(32, 4, False, tmp_path) == pytest.approx(BLR * CONFIG_BATCH / 256)


@pytest.mark.parametrize('counts', [0, 2.5])
def test_bad_accumulation_count(counts):
    cfg = Config(dict(optim_wrapper=dict(accumulative_counts=counts),
                      auto_scale_lr=dict(base_batch_size=CONFIG_BATCH, enable=True)))
    with pytest.raises(ValueError, match='accumulative_counts'):
        count_accumulation_in_lr_scaling(cfg)
