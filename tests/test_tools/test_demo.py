"""``make demo``'s table, each number against an independent recomputation.

Without training: every cell of the table comes from the stage its column names (distinct values
per stage, so a cell that reads another stage's value shows). End to end (``tools/demo.py
--quick`` with the repository's zoo): the chance column against its formulas and mmseg's
IoUMetric; the classifier's top-1 (demo, scratch, zoo) against a forward pass of each
checkpoint on the test scenes; FCMAE's held-out loss (demo, zoo) against numpy; Mask R-CNN's
and UperNet's numbers against what each run's own test logged; and every cell against what its
stage recorded.
"""
import glob
import json
import os
import os.path as osp
import re
import subprocess
import sys

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import MODELS, DefaultScope
from mmseg.evaluation.metrics import IoUMetric
from PIL import Image

from demo import parse_args
from mmconvnextv2.datasets import SHAPE_CLASSES, ShapesClsDataset, layout_paths
from mmconvnextv2.utils import load_config, load_weights_only
from shapes_lab.configs import FCMAE_CONFIG
from shapes_lab.demo import (NOT_IN_ZOO, TABLE_HEADER, ZOO_FILES, DemoPaths, demo_table, fcmae_side,
                             format_table)
from shapes_lab.fcmae import load_fcmae, val_scene_images
from shapes_lab.runs import last_checkpoint
from shapes_lab.sizes import QUICK

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
ZOO = osp.join(REPO, 'zoo')
STAGES = ('mask_rcnn', 'mask_rcnn_scratch', 'classifier', 'classifier_scratch', 'fcmae',
          'upernet', 'upernet_scratch', 'zoo', 'cosine')
ROWS = [('FCMAE V2 pre-training', 'held-out loss'), ('classification', 'top-1 %'),
        ('Mask R-CNN', 'box AP %'), ('Mask R-CNN', 'mask AP %'), ('UperNet', 'mIoU %')]


def stage_values() -> dict[str, dict]:
    """What the stages return, a different number in every place the table reads."""
    def run(**metrics):
        return dict(metrics=metrics, iters=3)

    return dict(
        fcmae=run(val_loss=0.111, val_loss_patch_mean=0.999),
        classifier=run(top1=21.0), classifier_scratch=run(top1=22.0),
        mask_rcnn=run(bbox_mAP=0.31, segm_mAP=0.32),
        mask_rcnn_scratch=run(bbox_mAP=0.41, segm_mAP=0.42),
        upernet=run(mIoU=51.0), upernet_scratch=run(mIoU=52.0),
        zoo=dict(fcmae=0.444, top1=61.0, mask_rcnn=dict(bbox_mAP=0.71, segm_mAP=0.72), mIoU=81.0))


def table_rows(text: str) -> dict[tuple[str, str], list[str]]:
    """The printed table's rows, keyed by (task, metric); cells are separated by 2+ spaces."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith('task '))
    assert re.split(r'\s{2,}', lines[start].strip()) == list(TABLE_HEADER)
    rows = {}
    for line in lines[start + 1:]:
        if not line.strip():
            break
        cells = re.split(r'\s{2,}', line.strip())
        assert len(cells) == len(TABLE_HEADER), line
        rows[tuple(cells[:2])] = cells[2:]
    return rows


def test_every_cell_comes_from_the_stage_of_its_column():
    values = stage_values()
    rows = table_rows(format_table(demo_table(values, seg_chance=11.6), values))
    assert rows == {
        ROWS[0]: ['0.111', '0.999', '-', '0.444'],
        ROWS[1]: ['21.0', f'{100 / len(SHAPE_CLASSES):.1f}', '22.0', '61.0'],
        ROWS[2]: ['31.0', '0.0', '41.0', '71.0'],
        ROWS[3]: ['32.0', '0.0', '42.0', '72.0'],
        ROWS[4]: ['51.0', '11.6', '52.0', '81.0']}
    # A zoo without trained checkpoints says so.
    values['zoo'] = dict(fcmae=None, top1=None, mask_rcnn=None, mIoU=None)
    rows = table_rows(format_table(demo_table(values, seg_chance=11.6), values))
    assert [cells[-1] for cells in rows.values()] == [NOT_IN_ZOO] * len(ROWS)


def test_quick_is_the_quick_preset():
    assert parse_args([]).preset == 'demo'
    assert parse_args(['--quick']).preset == parse_args(['--preset', 'quick']).preset == 'quick'


@pytest.fixture(scope='module')
def demo(tmp_path_factory) -> dict:
    """The quick demo, run once with the repository's zoo."""
    tmp = tmp_path_factory.mktemp('demo')
    work, data = tmp / 'work', tmp / 'data'
    result = subprocess.run(
        [sys.executable, osp.join(REPO, 'tools/demo.py'), '--quick', '--processes', '1',
         '--work-dir', str(work), '--data-dir', str(data)],
        capture_output=True, text=True, timeout=600, env={**os.environ, 'OMP_NUM_THREADS': '1'})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    paths = DemoPaths(str(work), ZOO, QUICK.det_scenes.folder(str(data)),
                      QUICK.seg_scenes.folder(str(data)))
    return dict(out=result.stdout, err=result.stderr, paths=paths, rows=table_rows(result.stdout))


def recorded(paths: DemoPaths, stage: str) -> dict:
    """What the stage recorded (``<work>/<stage>/stage.json``)."""
    with open(osp.join(paths.stage(stage), 'stage.json')) as f:
        return json.load(f)['values']


def logged_test(work_dir: str) -> dict[str, float]:
    """The metrics the test run in ``work_dir`` logged: mmengine's ``<timestamp>/<timestamp>.json``
    (a training run logs into ``<timestamp>/vis_data/`` instead)."""
    logs = [path for path in glob.glob(osp.join(work_dir, '*', '*.json'))
            if osp.basename(path) == osp.basename(osp.dirname(path)) + '.json']
    assert len(logs) == 1, logs
    with open(logs[0]) as f:
        (metrics, ) = [json.loads(line) for line in f]
    return {key.split('/')[-1]: value for key, value in metrics.items()}


def classifier_top1(checkpoint: str) -> str:
    """Top-1 (%) of ``checkpoint`` on the quick test scenes by a forward pass, formatted."""
    cfg = load_config('mmconvnextv2::convnextv2/convnextv2-atto_shapes.py')
    cfg.model.setdefault('data_preprocessor', cfg.get('data_preprocessor'))
    num = QUICK.classifier.test_scenes
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(cfg.model).eval()
        model.load_state_dict(load_weights_only(checkpoint)['state_dict'])
        dataset = ShapesClsDataset(num, 'val', size=96, test_mode=True,
                                   pipeline=cfg.test_dataloader.dataset.pipeline)
        batch = model.data_preprocessor(
            dict(inputs=[dataset[i]['inputs'] for i in range(num)], data_samples=None))
    with torch.no_grad():
        predicted = model(batch['inputs'], mode='tensor').argmax(1)
    labels = torch.arange(num) % len(SHAPE_CLASSES)  # scene i shows class i mod 6
    return f'{100 * float((predicted == labels).double().mean()):.1f}'


def normalised_patches(images: np.ndarray, p: int) -> np.ndarray:
    """(N, C, H, W) -> (N, L, p*p*C) patches, each normalised by its own mean and unbiased
    variance (eps 1e-6), in float64."""
    n, c, h, w = images.shape
    patches = images.reshape(n, c, h // p, p, w // p, p).transpose(0, 2, 4, 3, 5, 1)
    patches = patches.reshape(n, (h // p) * (w // p), p * p * c).astype(np.float64)
    mean, var = patches.mean(-1, keepdims=True), patches.var(-1, ddof=1, keepdims=True)
    return (patches - mean) / np.sqrt(var + 1e-6)


def fcmae_losses(checkpoint: str) -> tuple[str, str]:
    """The held-out loss of ``checkpoint`` and of predicting patch means, in numpy, on the
    quick held-out scenes under the seed-0 masks, formatted."""
    model = load_fcmae(FCMAE_CONFIG, checkpoint)
    size = QUICK.fcmae
    raw = val_scene_images(size.test_scenes, fcmae_side(size))
    images = model.data_preprocessor(dict(inputs=raw.float(), data_samples=None))['inputs']
    mask = model.draw_mask(images, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        pred = model.reconstruct(images, mask).flatten(2).transpose(1, 2).double().numpy()
    target = normalised_patches(images.double().numpy(), model.patch_size)
    removed = mask.flatten(1).numpy().astype(bool)
    return (f'{((pred - target) ** 2).mean(-1)[removed].mean():.3f}',
            f'{(target ** 2).mean(-1)[removed].mean():.3f}')


def background_only_miou(seg_data: str) -> float:
    """mmseg's IoUMetric of labelling every test pixel background."""
    metric = IoUMetric(iou_metrics=['mIoU'])
    metric.dataset_meta = dict(classes=('background', *SHAPE_CLASSES))
    folder = osp.join(layout_paths(seg_data)['ade'], 'annotations', 'validation')
    results = []
    for path in sorted(glob.glob(osp.join(folder, '*.png'))):
        label = torch.from_numpy(np.asarray(Image.open(path)).astype(np.int64) - 1)
        label[label < 0] = 255  # reduce_zero_label: 0 (unlabelled) is ignored
        results.append(metric.intersect_and_union(torch.zeros_like(label), label,
                                                  len(SHAPE_CLASSES) + 1, 255))
    assert len(results) == QUICK.seg_scenes.test
    return metric.compute_metrics(results)['mIoU']  # rounded to 2 decimals


@pytest.mark.slow  # starts real training runs
def test_quick_demo_logs_each_stage_and_draws_every_picture(demo):
    out, work = demo['out'], demo['paths'].work_dir
    assert 'pkg_resources' not in out + demo['err'] and 'mmengine - INFO' not in out
    for stage in STAGES:
        assert len(re.findall(rf'\] {stage}: started\n', out)) == 1, stage
        assert len(re.findall(rf'\] {stage}: (?!started).*\(\d+ s\)\n', out)) == 1, stage
        assert osp.getsize(osp.join(work, stage, 'console.log')) > 0
    assert len(out.splitlines()) < 50
    assert list(demo['rows']) == ROWS
    for picture in ('fcmae_reconstructions.png', 'fcmae_reconstructions_zoo.png',
                    'loss_curves.png', 'detections.png', 'detections_zoo.png',
                    'cosine_distance.png'):
        assert osp.getsize(osp.join(work, picture)) > 0, picture


@pytest.mark.slow
def test_chance_column_equals_its_formulas(demo):
    rows, paths = demo['rows'], demo['paths']
    assert rows[ROWS[0]][1] == fcmae_losses(last_checkpoint(paths.stage('fcmae')))[1]
    assert rows[ROWS[1]][1] == f'{100 / len(SHAPE_CLASSES):.1f}'
    assert rows[ROWS[2]][1] == rows[ROWS[3]][1] == '0.0'  # no detections
    assert float(rows[ROWS[4]][1]) == pytest.approx(background_only_miou(paths.seg_data),
                                                    abs=0.051)


@pytest.mark.slow
def test_classifier_cells_equal_a_forward_pass_of_each_checkpoint(demo):
    (demo_cell, _, scratch, zoo), paths = demo['rows'][ROWS[1]], demo['paths']
    assert demo_cell == classifier_top1(last_checkpoint(paths.stage('classifier')))
    assert scratch == classifier_top1(last_checkpoint(paths.stage('classifier_scratch')))
    assert zoo == classifier_top1(osp.join(ZOO, ZOO_FILES['classifier']))


@pytest.mark.slow
def test_demo_runs_start_from_the_zoo_encoder_and_scratch_runs_from_random_weights(demo):
    """As the configs that the runners dumped into the runs' folders say."""
    encoder = osp.join(ZOO, ZOO_FILES['fcmae_v2_encoder'])
    for task in ('classifier', 'mask_rcnn', 'upernet'):
        for stage, init_cfg in ((task, dict(type='mmconvnextv2.ConvNeXtV2Pretrained',
                                            checkpoint=encoder)), (f'{task}_scratch', None)):
            (dumped, ) = glob.glob(osp.join(demo['paths'].stage(stage), '*.py'))
            assert Config.fromfile(dumped).model.backbone.init_cfg == init_cfg, stage


@pytest.mark.slow
def test_fcmae_cells_equal_numpy(demo):
    (demo_cell, chance, _, zoo), paths = demo['rows'][ROWS[0]], demo['paths']
    assert (demo_cell, chance) == fcmae_losses(last_checkpoint(paths.stage('fcmae')))
    assert zoo == fcmae_losses(osp.join(ZOO, ZOO_FILES['fcmae_v2']))[0]


@pytest.mark.slow
def test_detection_and_segmentation_cells_equal_what_each_test_logged(demo):
    rows, paths = demo['rows'], demo['paths']
    for row, key, scale, (demo_dir, scratch_dir, zoo_dir) in (
            (ROWS[2], 'bbox_mAP', 100, ('mask_rcnn', 'mask_rcnn_scratch', 'zoo/mask_rcnn')),
            (ROWS[3], 'segm_mAP', 100, ('mask_rcnn', 'mask_rcnn_scratch', 'zoo/mask_rcnn')),
            (ROWS[4], 'mIoU', 1, ('upernet', 'upernet_scratch', 'zoo/upernet'))):
        demo_cell, _, scratch, zoo = rows[row]
        for cell, folder in ((demo_cell, demo_dir), (scratch, scratch_dir), (zoo, zoo_dir)):
            assert cell == f'{scale * logged_test(paths.stage(folder))[key]:.1f}', (row, folder)


@pytest.mark.slow
def test_every_cell_is_what_its_stage_recorded(demo):
    paths = demo['paths']
    values = {stage: recorded(paths, stage) for stage in STAGES}
    rows = table_rows(format_table(demo_table(
        values, float(demo['rows'][ROWS[4]][1])), values))
    assert rows == demo['rows']
