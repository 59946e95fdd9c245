"""Checkpoints written by an mmengine runner load weights-only on every supported torch, and
resume."""
import os
import pickle
import subprocess
import sys

import pytest
import torch
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch.utils.data import Dataset

from mmconvnextv2.utils.checkpoint import (_RestrictedPickle, allow_mmengine_checkpoint_types,
                                           load_weights_only, save_checkpoint)
from mmconvnextv2.utils.torch_compat import LOADS_WEIGHTS_ONLY_BY_DEFAULT


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
            'from mmconvnextv2.utils import load_weights_only\n'
            'if sys.argv[2] == "ours": ckpt = load_weights_only(sys.argv[1])\n'
            'else: ckpt = torch.load(sys.argv[1], map_location="cpu", weights_only=True)\n'
            'print(ckpt["meta"]["epoch"], "train/loss" in ckpt["message_hub"]["log_scalars"])')
    loaded = subprocess.run([sys.executable, '-c', code, str(path), 'ours'],
                            capture_output=True, text=True)
    assert loaded.returncode == 0, loaded.stderr[-2000:]
    assert loaded.stdout.split() == ['1', 'True']
    # torch's own weights-only load refuses the same file: our allow-list is what loads it, and
    # importing the package did not change torch's.
    refused = subprocess.run([sys.executable, '-c', code, str(path), 'torch'],
                             capture_output=True, text=True)
    assert refused.returncode != 0 and 'Weights only load failed' in refused.stderr

    # As tools/train.py does before a runner resumes (torch >= 2.6 loads weights-only).
    allow_mmengine_checkpoint_types()
    resumed = make_runner(work_dir, max_epochs=2, resume=True)
    resumed.train()
    assert resumed.epoch == 2 and resumed.iter == 4


def test_restricted_unpickler_loads_what_torch_allow_list_loads(tmp_path):
    """The loader of torch < 2.6 gives the same objects as torch's own weights-only one."""
    make_runner(str(tmp_path), max_epochs=1).train()
    path = tmp_path / 'epoch_1.pth'
    restricted = torch.load(path, map_location='cpu', pickle_module=_RestrictedPickle,
                            weights_only=False)
    full = torch.load(path, map_location='cpu', weights_only=False)
    assert restricted.keys() == full.keys()
    assert restricted['meta'] == full['meta']
    for name, value in full['state_dict'].items():
        assert torch.equal(restricted['state_dict'][name], value)
    history = restricted['message_hub']['log_scalars']['train/loss']
    assert history.mean() == full['message_hub']['log_scalars']['train/loss'].mean()


class _RunsShellOnLoad:

    def __reduce__(self):
        return os.system, ('true', )


def test_restricted_unpickler_refuses_other_globals(tmp_path):
    path = tmp_path / 'payload.pth'
    torch.save({'x': _RunsShellOnLoad()}, path)
    with pytest.raises(pickle.UnpicklingError, match='refuses the global posix.system'):
        torch.load(path, pickle_module=_RestrictedPickle, weights_only=False)


def test_import_changes_nothing_global():
    """Importing the package and its modules leaves torch's allow-list and mmengine's scope table
    as they were (the allow-list is extended just before a load, the table before a config
    load)."""
    # The libraries first: torch's own modules extend its list as they load
    # (torch.distributed.tensor, which mmengine imports).
    code = ('import torch, mmengine.runner, mmpretrain.models, mmdet.models, mmseg.models\n'
            'from mmengine.config.utils import MODULE2PACKAGE\n'
            'get = getattr(torch.serialization, "get_safe_globals", list)\n'
            'before = (list(get()), dict(MODULE2PACKAGE))\n'
            'import mmconvnextv2, mmconvnextv2.models, mmconvnextv2.datasets, '
            'mmconvnextv2.engine, mmconvnextv2.apis\n'
            'print(before == (list(get()), dict(MODULE2PACKAGE)))')
    result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ['True']


@pytest.mark.skipif(not LOADS_WEIGHTS_ONLY_BY_DEFAULT,
                    reason='needs torch >= 2.6: older torch.load unpickles everything by default '
                           'and has no allow-list to extend')
def test_allow_list_is_extended_where_torch_loads_weights_only():
    allow_mmengine_checkpoint_types()
    names = {getattr(entry, '__name__', None) for entry in torch.serialization.get_safe_globals()}
    assert {'HistoryBuffer', 'Namespace', 'ndarray'} <= names


def test_only_history_buffer_statistics_resolve_through_getattr(tmp_path):
    """The getattr stand-in must not open other attributes to a checkpoint file."""

    class Sneaky:

        def __reduce__(self):
            return getattr, (torch.Tensor, 'new_empty')

    path = tmp_path / 'sneaky.pth'
    torch.save({'x': Sneaky()}, path)
    with pytest.raises(pickle.UnpicklingError, match='only the statistics methods'):
        load_weights_only(path)


def test_save_checkpoint_round_trips_and_leaves_only_the_file(tmp_path):
    checkpoint = dict(state_dict={'w': torch.arange(6.0).reshape(2, 3)}, meta=dict(epoch=2))
    path = tmp_path / 'out' / 'ckpt.pth'
    save_checkpoint(checkpoint, path)
    loaded = torch.load(path, weights_only=True)
    assert loaded['meta'] == dict(epoch=2)
    assert torch.equal(loaded['state_dict']['w'], checkpoint['state_dict']['w'])
    assert [p.name for p in path.parent.iterdir()] == ['ckpt.pth']
