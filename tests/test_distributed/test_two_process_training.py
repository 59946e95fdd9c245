"""Two CPU processes (gloo, torchrun) hold identical parameters after training, equal to one
process with the same global batch, for fine-tuning and for FCMAE pre-training.

DDP averages the per-rank mean-loss gradients, and mmengine's DefaultSampler deals the shuffled
indices out round-robin, so 2 ranks x 2 images see, step by step, the same 4 images as 1 process x 4
images. The pipeline, the models and the optimiser are deterministic (no flip, no drop path), and
FCMAE's ``mask_seed`` gives each image the same mask whichever rank draws it. Every image keeps the
same number of patches, so the mean of the ranks' mean losses is the single process's mean loss.
"""
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch

from mmconvnextv2.datasets import write_shapes_dataset

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
STEPS = 3

CONFIGS = {
    'finetune': ('configs/convnextv2/convnextv2-atto_shapes.py',
                 'model = dict(backbone=dict(drop_path_rate=0.0))', 32),
    'fcmae': ('configs/fcmae/fcmae_convnextv2-atto_shapes.py',
              'model = dict(mask_seed=0)\noptim_wrapper = dict(optimizer=dict(lr=2e-4))', 64),
}

OVERRIDES = """
_base_ = {base!r}
custom_imports = dict(imports=['mmconvnextv2.models', 'rank_state_hook'])
custom_hooks = [dict(type='RankStateHook')]
{model}
train_dataloader = dict(
    batch_size={batch_size}, num_workers=0, persistent_workers=False,
    dataset=dict(data_root={data_root!r}, pipeline=[
        dict(type='LoadImageFromFile'), dict(type='Resize', scale=({size}, {size})),
        dict(type='PackInputs')]))
train_cfg = dict(max_epochs=1)
param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=False)]
env_cfg = dict(dist_cfg=dict(backend='gloo'))
"""


def train(case: str, work_dir: str, data_root: str, processes: int) -> list:
    """Trains one epoch with ``processes`` ranks; returns each rank's final state dict."""
    os.makedirs(work_dir)
    config = osp.join(work_dir, 'config.py')
    base, model, size = CONFIGS[case]
    with open(config, 'w') as f:
        f.write(OVERRIDES.format(base=osp.join(REPO, base), model=model, size=size,
                                 batch_size=4 // processes, data_root=data_root))
    command = [osp.join(REPO, 'tools/train.py'), config, '--work-dir', work_dir, '--no-validate']
    if processes > 1:
        command = ['-m', 'torch.distributed.run', '--nproc_per_node', str(processes),
                   '--master_port', '29531', *command, '--launcher', 'pytorch']
    env = dict(os.environ, OMP_NUM_THREADS='1',
               PYTHONPATH=os.pathsep.join([REPO, osp.dirname(osp.abspath(__file__))]))
    subprocess.run([sys.executable, *command], check=True, env=env, cwd=REPO,
                   stdout=subprocess.DEVNULL)
    return [torch.load(osp.join(work_dir, f'rank{rank}.pth'), weights_only=True)
            for rank in range(processes)]


@pytest.mark.parametrize('case', list(CONFIGS))
def test_two_gloo_ranks_match_one_process(case, tmp_path):
    data_root = str(tmp_path / 'shapes')
    write_shapes_dataset(data_root, num_train=4 * STEPS, num_val=1, seed=0, progress=False)
    (single, ) = train(case, str(tmp_path / 'single'), osp.join(data_root, 'cls'), processes=1)
    rank0, rank1 = train(case, str(tmp_path / 'double'), osp.join(data_root, 'cls'), processes=2)
    initial = torch.load(tmp_path / 'single' / 'rank0_init.pth', weights_only=True)
    largest_update = max((value - initial[name]).abs().max() for name, value in single.items())
    assert largest_update > 4e-4  # three AdamW steps of lr 2e-4 moved the weights
    for name, value in single.items():
        torch.testing.assert_close(rank1[name], rank0[name], rtol=0, atol=0, msg=name)
        # The gradients are summed in another order, and AdamW's step g / sqrt(v) turns rounding
        # in a near-zero gradient into up to a fraction of a full step (lr 2e-4): allow a quarter.
        torch.testing.assert_close(rank0[name], value, rtol=0, atol=5e-5, msg=name)
