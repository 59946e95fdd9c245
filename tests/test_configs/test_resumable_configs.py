"""Every config we ship resumes exactly: atomic checkpoints and the generators' states in them."""
import glob
import os.path as osp

import pytest
from mmengine.config import Config

import mmconvnextv2  # noqa: F401  (the mmconvnextv2:: config scope)

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = sorted(path for path in glob.glob(osp.join(REPO, 'configs', '**', '*.py'), recursive=True)
                 if '_base_' not in path)


def test_every_kind_of_config_is_checked():
    folders = {osp.basename(osp.dirname(path)) for path in CONFIGS}
    assert folders == {'convnextv2', 'fcmae', 'mask_rcnn', 'upernet', 'sem_fpn', 'peers'}


@pytest.mark.parametrize('path', CONFIGS, ids=lambda path: osp.relpath(path, REPO))
def test_config_saves_atomically_with_random_state(path):
    cfg = Config.fromfile(path)
    assert cfg.default_hooks.checkpoint.type == 'mmconvnextv2.AtomicCheckpointHook'
    assert 'mmconvnextv2.RandomStateHook' in [hook['type'] for hook in cfg.custom_hooks]
