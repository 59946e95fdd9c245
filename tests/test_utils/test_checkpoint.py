"""Checkpoints written by an mmengine runner load and resume with weights-only ``torch.load``."""
import subprocess
import sys

import pytest
import torch
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch.utils.data import Dataset

import mmconvnextv2  # noqa: F401  (allow-lists mmengine's checkpoint types)
from mmconvnextv2.utils.checkpoint import save_checkpoint


class ToyModel(BaseModel):

    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(2, 1)

    def forward(self, inputs, targets=None, mode='tensor'):
        loss = (self.linear(inputs).squeeze(1) - targets).pow(2).mean()
        return {'loss': loss}


class ToyDataset(Dataset):

    def __len__(self) -> int:
        return 8

    def __getitem__(self, index: int) -> dict:
        return dict(inputs=torch.tensor([float(index), 1.0]), targets=torch.tensor(float(index)))


def make_runner(work_dir: str, max_epochs: int, resume: bool = False) -> Runner:
    return Runner(
        model=ToyModel(),
        work_dir=work_dir,
        train_dataloader=dict(dataset=ToyDataset(),
                              sampler=dict(type='DefaultSampler', shuffle=False),
                              batch_size=4, collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.001)),
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=1)),
        randomness=dict(seed=0),
        resume=resume,
    )


def test_runner_checkpoint_loads_weights_only_and_resumes(tmp_path):
    work_dir = str(tmp_path)
    make_runner(work_dir, max_epochs=1).train()
    path = tmp_path / 'epoch_1.pth'

    # A fresh process, as when a run is resumed or a checkpoint converted.
    code = ('import sys, torch\n'
            'if sys.argv[2] == "allow": import mmconvnextv2\n'
            'ckpt = torch.load(sys.argv[1], map_location="cpu", weights_only=True)\n'
            'print(ckpt["meta"]["epoch"], "train/loss" in ckpt["message_hub"]["log_scalars"])')
    loaded = subprocess.run([sys.executable, '-c', code, str(path), 'allow'],
                            capture_output=True, text=True)
    assert loaded.returncode == 0, loaded.stderr[-2000:]
    assert loaded.stdout.split() == ['1', 'True']
    # Without our allow-list the same file is refused: the test would catch a regression.
    refused = subprocess.run([sys.executable, '-c', code, str(path), 'plain'],
                             capture_output=True, text=True)
    assert refused.returncode != 0 and 'Weights only load failed' in refused.stderr

    resumed = make_runner(work_dir, max_epochs=2, resume=True)
    resumed.train()
    assert resumed.epoch == 2 and resumed.iter == 4


def test_only_history_buffer_statistics_resolve_through_getattr(tmp_path):
    """The getattr stand-in must not open other attributes to a checkpoint file."""
    import pickle

    class Sneaky:

        def __reduce__(self):
            return getattr, (torch.Tensor, 'new_empty')

    path = tmp_path / 'sneaky.pth'
    torch.save({'x': Sneaky()}, path)
    with pytest.raises(pickle.UnpicklingError, match='only the statistics methods'):
        torch.load(path, weights_only=True)


def test_save_checkpoint_round_trips_and_leaves_only_the_file(tmp_path):
    checkpoint = dict(state_dict={'w': torch.arange(6.0).reshape(2, 3)}, meta=dict(epoch=2))
    path = tmp_path / 'out' / 'ckpt.pth'
    save_checkpoint(checkpoint, path)
    loaded = torch.load(path, weights_only=True)
    assert loaded['meta'] == dict(epoch=2)
    assert torch.equal(loaded['state_dict']['w'], checkpoint['state_dict']['w'])
    assert [p.name for p in path.parent.iterdir()] == ['ckpt.pth']
