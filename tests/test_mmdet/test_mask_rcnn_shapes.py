"""mmdet's train then test of the atto Mask R-CNN on a few generated shapes scenes, through the
runners of tools/train.py and tools/test.py: all twelve COCO APs (bbox and segm) are reported."""
import json
import os.path as osp

import pytest
import torch

from mmconvnextv2.datasets import layout_paths, write_shapes_dataset
from mmconvnextv2.models import ConvNeXtV2
from mmconvnextv2.utils import load_weights_only
from shapes_lab.configs import COCO_AP_KEYS, SHAPES_DETECTION_SIZE, mask_rcnn_schedule
from shapes_lab.runs import train_mask_rcnn

pytestmark = pytest.mark.slow  # starts real training runs

NUM_TRAIN, NUM_VAL = 6, 4


@pytest.fixture(scope='module')
def data_dir(tmp_path_factory) -> str:
    out = str(tmp_path_factory.mktemp('shapes_det'))
    write_shapes_dataset(out, NUM_TRAIN, NUM_VAL, seed=0, size=SHAPES_DETECTION_SIZE,
                         progress=False)
    return out


def test_val_scenes_hold_small_medium_and_large_objects(data_dir):
    # COCO reports -1 for a size range without objects; these scenes have all three.
    with open(layout_paths(data_dir)['coco_val_ann']) as f:
        areas = [ann['area'] for ann in json.load(f)['annotations']]
    assert min(areas) < 32**2 and max(areas) >= 96**2
    assert any(32**2 <= area < 96**2 for area in areas)


def test_train_then_test_reports_all_twelve_aps(data_dir, tmp_path):
    work_dir = str(tmp_path / 'work')
    options = {'test_dataloader.batch_size': NUM_VAL, 'default_hooks.logger.interval': 1}
    # A backbone checkpoint (as the demo passes the FCMAE encoder) with a recognisable GRN gamma.
    encoder = ConvNeXtV2(arch='atto')
    torch.nn.init.constant_(encoder.stages[2][5].grn.gamma, 0.5)
    init_checkpoint = str(tmp_path / 'encoder.pth')
    torch.save({'state_dict': {f'backbone.{k}': v for k, v in encoder.state_dict().items()}},
               init_checkpoint)
    run = train_mask_rcnn(data_dir, work_dir, max_epochs=1, batch_size=2, num_workers=0,
                          init_checkpoint=init_checkpoint, cfg_options=options)
    metrics = run.metrics
    assert list(metrics) == list(COCO_AP_KEYS) and len(metrics) == 12
    for key, value in metrics.items():
        assert 0.0 <= value <= 1.0, (key, value)  # -1 would mean "not evaluated"

    # Three iterations of our backbone were trained and saved, then tested from the file.
    assert run.checkpoint == osp.join(work_dir, 'epoch_1.pth') and run.iters == NUM_TRAIN // 2
    assert run.work_dir == work_dir and osp.isdir(run.log_dir)
    checkpoint = load_weights_only(run.checkpoint)
    assert checkpoint['meta']['iter'] == NUM_TRAIN // 2
    gamma = checkpoint['state_dict']['backbone.stages.2.5.grn.gamma']
    torch.testing.assert_close(gamma, torch.full_like(gamma, 0.5), atol=0.05, rtol=0)
    assert checkpoint['state_dict']['roi_head.mask_head.conv_logits.weight'].shape[0] == 6


def test_schedule_keeps_the_lr_steps_proportional():
    assert mask_rcnn_schedule(12)['param_scheduler.1.milestones'] == [9, 11]
    assert mask_rcnn_schedule(24)['param_scheduler.1.milestones'] == [18, 22]
    assert mask_rcnn_schedule(1)['param_scheduler.1.milestones'] == [1, 1]
    with pytest.raises(ValueError, match='max_epochs'):
        mask_rcnn_schedule(0)


def test_missing_data_names_the_generator(tmp_path):
    with pytest.raises(FileNotFoundError, match='ensure_shapes_dataset'):
        train_mask_rcnn(str(tmp_path), str(tmp_path / 'work'))
