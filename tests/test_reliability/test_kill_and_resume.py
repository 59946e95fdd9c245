"""A run killed with SIGKILL and resumed with ``tools/train.py --resume`` goes on exactly as the
uninterrupted run: the same loss at every iteration and the same final weights.

That needs the optimiser, the lr schedule, EMA and the random generators (FCMAE masks, drop path,
mixup, augmentation, RoI sampling) to continue from the checkpoint, and, for a kill while a
checkpoint is written, ``last_checkpoint`` to still name a whole checkpoint. Each case trains
three times in subprocesses (uninterrupted, killed, resumed) on a few generated scenes.
"""
import json
import os
import os.path as osp
import signal
import subprocess
import sys

import pytest
import torch

from mmconvnextv2.datasets import layout_paths, write_shapes_dataset
from mmconvnextv2.utils import load_weights_only
from shapes_lab.configs import SHAPES_DETECTION_SIZE

pytestmark = pytest.mark.slow  # starts real training runs

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
HERE = osp.dirname(osp.abspath(__file__))
NUM_TRAIN = 8

COMMON = """
_base_ = {base!r}
custom_imports = dict(imports=['mmconvnextv2.models', 'mmconvnextv2.engine',
                               'resume_probe_hooks'])
custom_hooks = {hooks}
train_cfg = dict(max_epochs=3)
default_hooks = dict(logger=dict(interval=1),
                     checkpoint=dict(interval=1, max_keep_ckpts=1, save_last=True))
"""

# FCMAE draws its masks from the global generator (no mask_seed): the resumed run must restore it.
FCMAE = COMMON + """
train_dataloader = dict(
    batch_size=4, num_workers=0, persistent_workers=False,
    dataset=dict(num_scenes={num_train}, size=64, pipeline=[
        dict(type='RandomResizedCrop', scale=64, crop_ratio_range=(0.2, 1.0), backend='pillow'),
        dict(type='RandomFlip', prob=0.5),
        dict(type='PackInputs')]))
param_scheduler = [dict(type='CosineAnnealingLR', T_max=3, by_epoch=True,
                        convert_to_iter_based=True)]
"""

# The full fine-tuning recipe: layer decay, EMA, mixup/cutmix, RandAugment, drop path.
FINETUNE = COMMON + """
model = dict(backbone=dict(drop_path_rate=0.1, init_cfg=None))
train_dataloader = dict(batch_size=4, num_workers=0, persistent_workers=False,
                        dataset=dict(num_scenes={num_train}, size=64))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=1,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=1, convert_to_iter_based=True)]
"""

MASK_RCNN = COMMON + """
model = dict(test_cfg=dict(rcnn=dict(max_per_img=20)))
train_dataloader = dict(batch_size=4, num_workers=0, persistent_workers=False,
                        dataset=dict(data_root={coco_root!r}, scenes=None))
param_scheduler = [dict(type='MultiStepLR', begin=0, end=3, by_epoch=True, milestones=[2])]
"""

CONFIGS = {
    'fcmae': ('configs/fcmae/fcmae_convnextv2-atto_shapes.py', FCMAE,
              ["dict(type='mmconvnextv2.RandomStateHook')"]),
    'finetune': ('configs/convnextv2/convnextv2-atto_fcmae-ft_shapes.py', FINETUNE,
                 ["dict(type='mmpretrain.EMAHook', momentum=0.01, priority='ABOVE_NORMAL')",
                  "dict(type='mmconvnextv2.RandomStateHook')"]),
    'mask_rcnn': ('configs/mask_rcnn/mask-rcnn_convnextv2-atto_fpn_shapes.py', MASK_RCNN,
                  ["dict(type='mmconvnextv2.RandomStateHook')"]),
}


@pytest.fixture(scope='module')
def data_dir(tmp_path_factory) -> str:
    out = str(tmp_path_factory.mktemp('shapes_resume'))
    # 320 px scenes for Mask R-CNN (resized to 224 by its pipeline); the classifiers render theirs.
    write_shapes_dataset(out, NUM_TRAIN, 1, seed=0, size=SHAPES_DETECTION_SIZE, progress=False)
    return out


def train(case: str, data_dir: str, work_dir: str, probes: list, resume: bool = False) -> int:
    """Runs tools/train.py for ``case`` with the probe hooks; returns the exit code."""
    base, template, hooks = CONFIGS[case]
    paths = layout_paths(data_dir)
    os.makedirs(work_dir, exist_ok=True)
    config = osp.join(work_dir, f'{case}_probe.py')
    with open(config, 'w') as f:
        f.write(template.format(
            base=osp.join(REPO, base), num_train=NUM_TRAIN, coco_root=paths['coco'],
            hooks='[' + ', '.join(hooks + ["dict(type='LossRecorderHook')", *probes]) + ']'))
    command = [sys.executable, osp.join(REPO, 'tools/train.py'), config, '--work-dir', work_dir,
               '--no-validate', *(['--resume'] if resume else [])]
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=os.pathsep.join([REPO, HERE]))
    return subprocess.run(command, env=env, cwd=REPO, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE).returncode


def losses(work_dir: str) -> dict[int, float]:
    """Each iteration's loss; a repeated iteration (run again after a resume) keeps its last one."""
    with open(osp.join(work_dir, 'losses.jsonl')) as f:
        records = [json.loads(line) for line in f]
    return {record['iter']: record['loss'] for record in records}


def final_weights(work_dir: str) -> dict[str, torch.Tensor]:
    return load_weights_only(osp.join(work_dir, 'epoch_3.pth'))['state_dict']


def assert_resumed_run_matches(reference_dir: str, resumed_dir: str) -> None:
    expected, resumed = losses(reference_dir), losses(resumed_dir)
    assert sorted(resumed) == sorted(expected) == list(range(3 * NUM_TRAIN // 4))
    for step, loss in expected.items():
        assert resumed[step] == pytest.approx(loss, rel=1e-6, abs=1e-7), step
    reference = final_weights(reference_dir)
    for name, value in final_weights(resumed_dir).items():
        torch.testing.assert_close(value, reference[name], rtol=1e-5, atol=1e-6, msg=name)


@pytest.mark.parametrize('case', ['finetune', 'mask_rcnn'])
def test_sigkill_mid_epoch_then_resume_continues_exactly(case, data_dir, tmp_path):
    reference, interrupted = str(tmp_path / 'reference'), str(tmp_path / 'interrupted')
    assert train(case, data_dir, reference, probes=[]) == 0
    # Iteration 4 is the first of epoch 3 (two steps per epoch): epoch 2's checkpoint is the last.
    kill = ["dict(type='KillAtIterHook', at_iter=4)"]
    assert train(case, data_dir, interrupted, probes=kill) == -signal.SIGKILL
    assert set(losses(interrupted)) == set(range(5))
    assert train(case, data_dir, interrupted, probes=[], resume=True) == 0
    assert_resumed_run_matches(reference, interrupted)


def test_sigkill_while_saving_leaves_the_last_whole_checkpoint(data_dir, tmp_path):
    reference, interrupted = str(tmp_path / 'reference'), str(tmp_path / 'interrupted')
    assert train('fcmae', data_dir, reference, probes=[]) == 0
    # Killed halfway through writing epoch 2's checkpoint, which would replace epoch 1's.
    kill = ["dict(type='KillWhileSavingHook', at_save=2)"]
    assert train('fcmae', data_dir, interrupted, probes=kill) == -signal.SIGKILL
    with open(osp.join(interrupted, 'last_checkpoint')) as f:
        assert f.read() == osp.join(interrupted, 'epoch_1.pth')
    assert not osp.exists(osp.join(interrupted, 'epoch_2.pth'))
    assert load_weights_only(osp.join(interrupted, 'epoch_1.pth'))['meta']['epoch'] == 1
    assert train('fcmae', data_dir, interrupted, probes=[], resume=True) == 0
    assert_resumed_run_matches(reference, interrupted)
    assert not osp.exists(osp.join(interrupted, 'epoch_1.pth'))  # max_keep_ckpts=1
