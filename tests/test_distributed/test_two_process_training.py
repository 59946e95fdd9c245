"""Two CPU processes (gloo, torchrun) step on the gradients of one process with the same global
batch, for fine-tuning and for FCMAE pre-training, and end with identical parameters. The runs
use the configs' models and train on the bundled shapes written to disk (``cls`` layout).

DDP averages the per-rank mean-loss gradients, and mmengine's DefaultSampler deals the shuffled
indices out round-robin, so 2 ranks x 2 images see, step by step, the same 4 images as 1 process x 4
images. The pipeline, the models and the optimiser are deterministic (no flip, no drop path), and
FCMAE's ``mask_seed`` gives each image the same mask whichever rank draws it. Every image keeps the
same number of patches, so the mean of the ranks' mean losses is the single process's mean loss.

The check compares the gradients every optimiser step receives, not the trained weights: AdamW's
``g / sqrt(v)`` turns the rounding of a near-zero gradient into a whole step, so weights after
AdamW differ by amounts that depend on the CPU's summation order. Plain SGD (no momentum, no weight
decay) is used instead, whose update is linear in the gradient, so each step's gradient differs
between the runs by rounding only (the small lr keeps ``lr * ||Hessian|| << 1``, so earlier steps'
differences are not amplified).
"""
import os
import os.path as osp
import subprocess
import sys
from collections.abc import Callable

import pytest
import torch

from mmconvnextv2.datasets import write_shapes_dataset
from mmconvnextv2.utils import load_weights_only

pytestmark = pytest.mark.slow  # starts real training runs

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
STEPS = 3

# How far two float32 computations of the same gradient may drift apart, relative to its norm.
# The runs add the same terms in other orders (the batch split 2 + 2 and summed by the allreduce;
# kernels that block by batch size). A sum of n terms in any order is within n * u of the exact
# value, relative to the sum of the terms' magnitudes (u = 2^-24, float32's unit roundoff). The
# longest sums here have n <= 2^11 terms (a weight gradient over 4 images x 16 x 16 positions; a
# linear layer's 4 x 320 inputs), and a gradient passes back through at most 16 layers that each
# add such an error (4 downsampling layers, 12 blocks): 16 * 2^11 * 2^-24 = 2^-9 ~ 2e-3.
# A lost or unaveraged rank changes a gradient by about half its norm, 250 times more.
GRAD_RTOL = 16 * 2 ** 11 * 2.0 ** -24

# Per case: the config, its model overrides, whether the data set has labels, the image side.
CONFIGS = {
    'finetune': ('configs/convnextv2/convnextv2-atto_shapes.py',
                 'model = dict(backbone=dict(drop_path_rate=0.0))', True, 32),
    'fcmae': ('configs/fcmae/fcmae_convnextv2-atto_shapes.py', 'model = dict(mask_seed=0)', False,
              64),
}

OVERRIDES = """
_base_ = {base!r}
custom_imports = dict(imports=['mmconvnextv2.models', 'rank_state_hook'])
custom_hooks = [dict(type='RankStateHook', fault={fault!r})]
{model}
optim_wrapper = dict(
    optimizer=dict(_delete_=True, type='SGD', lr=2e-4, momentum=0.0, weight_decay=0.0))
train_dataloader = dict(
    batch_size={batch_size}, num_workers=0, persistent_workers=False,
    dataset=dict(
        _delete_=True, type='CustomDataset', data_root={data_root!r}, data_prefix='train',
        with_label={with_label}, pipeline=[
            dict(type='LoadImageFromFile'), dict(type='Resize', scale=({size}, {size})),
            dict(type='PackInputs')]))
train_cfg = dict(max_epochs=1)
param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=False)]
env_cfg = dict(dist_cfg=dict(backend='gloo'))
"""

Grads = list[dict[str, torch.Tensor]]


def train(case: str, work_dir: str, data_root: str, processes: int,
          fault: str | None = None) -> list[tuple[Grads, dict[str, torch.Tensor]]]:
    """Trains one epoch with ``processes`` ranks.

    Returns:
        Per rank, the gradients of every step and the final state dict.
    """
    config = osp.join(work_dir, 'config.py')
    base, model, with_label, size = CONFIGS[case]
    with open(config, 'w') as f:
        f.write(OVERRIDES.format(base=osp.join(REPO, base), model=model, with_label=with_label,
                                 size=size, fault=fault, batch_size=4 // processes,
                                 data_root=data_root))
    command = [osp.join(REPO, 'tools/train.py'), config, '--work-dir', work_dir, '--no-validate']
    if processes > 1:
        # --standalone rendezvous on a free local port, so concurrent runs do not collide.
        command = ['-m', 'torch.distributed.run', '--standalone', '--nproc_per_node',
                   str(processes), *command, '--launcher', 'pytorch']
    env = dict(os.environ, OMP_NUM_THREADS='1',
               PYTHONPATH=os.pathsep.join([REPO, osp.dirname(osp.abspath(__file__))]))
    subprocess.run([sys.executable, *command], check=True, env=env, cwd=REPO,
                   stdout=subprocess.DEVNULL)
    return [(load_weights_only(osp.join(work_dir, f'rank{rank}_grads.pth')),
             load_weights_only(osp.join(work_dir, f'rank{rank}.pth')))
            for rank in range(processes)]


def assert_gradients_match(actual: Grads, expected: Grads) -> None:
    """Every step's gradient of every parameter lies within ``GRAD_RTOL`` of ``expected``'s, as
    an L2 norm relative to the expected gradient's norm."""
    assert len(expected) == STEPS and len(actual) == STEPS, (len(expected), len(actual))
    for step, (got, want) in enumerate(zip(actual, expected)):
        assert want and got.keys() == want.keys(), f'step {step}: other parameters have grads'
        for name, grad in want.items():
            error = torch.linalg.vector_norm(got[name] - grad)
            scale = torch.linalg.vector_norm(grad)
            assert error <= GRAD_RTOL * scale, (
                f'step {step}, {name}: gradient off by {error / scale:.3g} of its norm '
                f'(relative tolerance {GRAD_RTOL:.3g})')


@pytest.fixture(scope='module')
def data_root(tmp_path_factory: pytest.TempPathFactory) -> str:
    root = str(tmp_path_factory.mktemp('shapes'))
    write_shapes_dataset(root, num_train=4 * STEPS, num_val=1, seed=0, size=64, progress=False)
    return osp.join(root, 'cls')


@pytest.fixture(scope='module')
def single_process(data_root: str, tmp_path_factory: pytest.TempPathFactory
                   ) -> Callable[[str], Grads]:
    """The gradients of a one-process run of a case, trained once per module."""
    runs: dict[str, Grads] = {}

    def grads(case: str) -> Grads:
        if case not in runs:
            work_dir = str(tmp_path_factory.mktemp(f'single_{case}'))
            ((runs[case], _), ) = train(case, work_dir, data_root, processes=1)
        return runs[case]

    return grads


@pytest.mark.parametrize('case', list(CONFIGS))
def test_two_gloo_ranks_match_one_process(case, data_root, single_process, tmp_path):
    (grads0, state0), (grads1, state1) = train(case, str(tmp_path), data_root, processes=2)
    for step in range(STEPS):
        for name, grad in grads0[step].items():
            torch.testing.assert_close(grads1[step][name], grad, rtol=0, atol=0, msg=name)
    for name, value in state0.items():
        torch.testing.assert_close(state1[name], value, rtol=0, atol=0, msg=name)
    assert_gradients_match(grads0, single_process(case))


@pytest.mark.parametrize('fault', ['drop_rank1', 'no_average'])
def test_planted_averaging_fault_is_caught(fault, data_root, single_process, tmp_path):
    """The check above fails when rank 1's gradients are lost or the ranks do not average."""
    (grads0, _), _ = train('finetune', str(tmp_path), data_root, processes=2, fault=fault)
    with pytest.raises(AssertionError, match='gradient off by'):
        assert_gradients_match(grads0, single_process('finetune'))
