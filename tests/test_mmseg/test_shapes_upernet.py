"""UperNet with ConvNeXt V2-Atto on a few generated shapes scenes: mmseg's own tools/train.py and
tools/test.py (single-scale and multi-scale + flip) run our configs; the reported mIoU, mAcc and
aAcc match those computed here from the saved predictions. Then the demo's API function."""
import glob
import json
import os.path as osp
import runpy
import sys

import mmseg
import numpy as np
import pytest
import torch
from PIL import Image

from mmconvnextv2.datasets import write_shapes_dataset
from mmconvnextv2.models import ConvNeXtV2
from mmconvnextv2.utils import load_config, load_weights_only
from shapes_lab.configs import UPERNET_CONFIG, UPERNET_TTA_CONFIG, upernet_schedule
from shapes_lab.runs import train_upernet

pytestmark = pytest.mark.slow  # starts real training runs

MMSEG_TOOLS = osp.join(osp.dirname(mmseg.__file__), '.mim', 'tools')
NUM_CLASSES = 7
ITERS = 4
# Small and fast: 64x64 scenes trained as 64x64 crops, batches of 2.
TEST_SMALL = {'val_dataloader.batch_size': 2, 'test_dataloader.batch_size': 2}
TRAIN_SMALL = {
    **TEST_SMALL,
    'train_dataloader.batch_size': 2,
    'model.data_preprocessor.size': (64, 64),
    'train_dataloader.dataset.pipeline.2.scale': (64, 64),
    'train_dataloader.dataset.pipeline.3.crop_size': (64, 64),
    'default_hooks.logger.interval': 1,
}


@pytest.fixture(scope='module')
def data_root(tmp_path_factory) -> str:
    root = str(tmp_path_factory.mktemp('shapes'))
    write_shapes_dataset(root, num_train=8, num_val=4, seed=0, size=64, progress=False)
    return root


def data_options(data_root: str) -> dict:
    """Overrides for mmseg's tools: every split from ``data_root``'s ADE20K layout, loaded in the
    main process."""
    options = {}
    for split in ('train', 'val', 'test'):
        # scenes=None: this folder holds the test's own few scenes, not the config's.
        options.update({f'{split}_dataloader.dataset.data_root': osp.join(data_root, 'ade'),
                        f'{split}_dataloader.dataset.scenes': None,
                        f'{split}_dataloader.num_workers': 0,
                        f'{split}_dataloader.persistent_workers': False})
    return options


def config_file(config: str) -> str:
    """The file of an ``mmconvnextv2::`` config name, for mmseg's tools."""
    return load_config(config).filename


def cli_options(options: dict) -> list[str]:
    """``--cfg-options`` arguments for mmseg's tools (tuples as ``(a,b)``)."""
    args = []
    for key, value in options.items():
        if isinstance(value, tuple):
            value = '(' + ','.join(str(v) for v in value) + ')'
        args.append(f'{key}={value}')
    return ['--cfg-options', *args]


def run_mmseg_tool(tool: str, args: list[str], monkeypatch) -> None:
    monkeypatch.setattr(sys, 'argv', [tool, *args])
    runpy.run_path(osp.join(MMSEG_TOOLS, tool), run_name='__main__')


def reported_metrics(work_dir: str) -> dict[str, float]:
    """The metrics mmengine's LoggerHook dumps after a test, ``<work_dir>/<time>/<time>.json``."""
    (path, ) = glob.glob(osp.join(work_dir, '*', '*.json'))
    with open(path) as f:
        return json.load(f)


def metrics_from_predictions(pred_dir: str, data_root: str) -> dict[str, float]:
    """aAcc, mIoU and mAcc (percent) from saved label PNGs, over the classes that occur."""
    intersect, pred_area, label_area = (np.zeros(NUM_CLASSES) for _ in range(3))
    gt_paths = sorted(glob.glob(osp.join(data_root, 'ade/annotations/validation/*.png')))
    for gt_path in gt_paths:
        # Both in the ADE convention: 1 = background, 2.. = shapes; 0 (unlabelled) never occurs.
        gt = np.asarray(Image.open(gt_path)).astype(np.int64) - 1
        pred = np.asarray(Image.open(osp.join(pred_dir, osp.basename(gt_path)))).astype(
            np.int64) - 1
        assert gt.shape == pred.shape and gt.min() >= 0 and pred.min() >= 0
        intersect += np.bincount(gt[gt == pred], minlength=NUM_CLASSES)
        pred_area += np.bincount(pred.ravel(), minlength=NUM_CLASSES)
        label_area += np.bincount(gt.ravel(), minlength=NUM_CLASSES)
    union = pred_area + label_area - intersect
    with np.errstate(invalid='ignore', divide='ignore'):
        iou, acc = intersect / union, intersect / label_area
    return {'aAcc': 100 * intersect.sum() / label_area.sum(), 'mIoU': 100 * np.nanmean(iou),
            'mAcc': 100 * np.nanmean(acc)}


def test_mmseg_tools_train_then_test_report_miou(data_root, tmp_path, monkeypatch):
    options = {**data_options(data_root), **upernet_schedule(ITERS), **TRAIN_SMALL}
    work_dir = str(tmp_path / 'train')
    run_mmseg_tool('train.py', [config_file(UPERNET_CONFIG), '--work-dir', work_dir,
                                *cli_options(options)], monkeypatch)
    checkpoint = osp.join(work_dir, f'iter_{ITERS}.pth')
    state = load_weights_only(checkpoint, map_location='cpu')
    assert state['meta']['iter'] == ITERS
    assert any(k.startswith('backbone.stages.3.1.grn.') for k in state['state_dict'])
    # The training loss was logged and finite.
    (scalars, ) = glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))
    with open(scalars) as f:
        losses = [json.loads(line)['loss'] for line in f if '"loss"' in line]
    assert len(losses) == ITERS and np.isfinite(losses).all()

    for config, name in ((UPERNET_CONFIG, 'single'), (UPERNET_TTA_CONFIG, 'tta')):
        test_dir, pred_dir = str(tmp_path / name), str(tmp_path / f'{name}_pred')
        run_mmseg_tool('test.py', [config_file(config), checkpoint, '--work-dir', test_dir,
                                   '--out', pred_dir,
                                   *cli_options({**data_options(data_root), **TEST_SMALL})],
                       monkeypatch)
        reported = reported_metrics(test_dir)
        expected = metrics_from_predictions(pred_dir, data_root)
        for key in ('aAcc', 'mIoU', 'mAcc'):
            assert 0.0 <= reported[key] <= 100.0
            # IoUMetric rounds to 2 decimals.
            assert reported[key] == pytest.approx(expected[key], abs=0.006), (name, key)


def test_demo_function_trains_tests_and_returns_miou(data_root, tmp_path):
    # The function trains without validation (the val split is its test split).
    options = {key: value for key, value in TRAIN_SMALL.items() if not key.startswith('val_')}
    # A backbone checkpoint (as the demo passes the FCMAE encoder) with a recognisable GRN gamma.
    encoder = ConvNeXtV2(arch='atto')
    torch.nn.init.constant_(encoder.stages[2][5].grn.gamma, 0.5)
    init_checkpoint = str(tmp_path / 'encoder.pth')
    torch.save({'state_dict': {f'backbone.{k}': v for k, v in encoder.state_dict().items()}},
               init_checkpoint)
    work_dir = str(tmp_path / 'demo')
    run = train_upernet(data_root, work_dir, max_iters=2, tta=True, num_workers=0,
                        init_checkpoint=init_checkpoint, cfg_options=options)
    assert run.iters == 2 and run.checkpoint == osp.join(work_dir, 'iter_2.pth')
    gamma = load_weights_only(run.checkpoint)['state_dict'][
        'backbone.stages.2.5.grn.gamma']
    torch.testing.assert_close(gamma, torch.full_like(gamma, 0.5), atol=0.05, rtol=0)
    assert list(run.metrics) == ['aAcc', 'mIoU', 'mAcc', 'tta_aAcc', 'tta_mIoU', 'tta_mAcc']
    assert all(0.0 <= value <= 100.0 for value in run.metrics.values())
    assert osp.isdir(run.log_dir)


def test_bad_iterations_raise():
    with pytest.raises(ValueError, match='max_iters'):
        upernet_schedule(0)


def test_missing_data_names_the_generator(tmp_path):
    with pytest.raises(FileNotFoundError, match='ensure_shapes_dataset'):
        train_upernet(str(tmp_path), str(tmp_path / 'work'))
