"""The bundled synthetic shapes: determinism, consistency of the three layouts, and loading them
with mmpretrain, mmdet and mmseg."""
import json
import os
import os.path as osp
import runpy
import sys

import numpy as np
import pytest
from mmengine import DefaultScope
from PIL import Image
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

from mmconvnextv2.datasets import (MANIFEST_NAME, SHAPE_CLASSES, ShapesSegDataset,
                                   draw_dataset_scene, draw_scene, ensure_shapes_dataset, scene_rng,
                                   write_shapes_dataset)
from shapes_files import read_tree

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
NUM = {'train': 12, 'val': 4}
SEED = 3
SIZE = 224
K = len(SHAPE_CLASSES)
ADE_SPLIT = {'train': 'training', 'val': 'validation'}


@pytest.fixture(scope='module')
def data(tmp_path_factory) -> str:
    out = str(tmp_path_factory.mktemp('shapes'))
    write_shapes_dataset(out, NUM['train'], NUM['val'], seed=SEED, size=SIZE, progress=False)
    return out


def scenes(split: str) -> list:
    return [draw_dataset_scene(SEED, split, i, SIZE) for i in range(NUM[split])]


def name(split: str, index: int) -> str:
    return f'{split}_{index:06d}'


def test_same_seed_same_bytes_other_seed_other_bytes(data, tmp_path):
    write_shapes_dataset(str(tmp_path / 'again'), NUM['train'], NUM['val'], seed=SEED,
                         size=SIZE, progress=False)
    first, again = read_tree(data), read_tree(str(tmp_path / 'again'))
    # 16 scenes x (3 JPEGs + 1 PNG) + 2 class lists + 2 COCO files + the manifest.
    assert len(first) == 16 * 4 + 5
    assert first == again

    write_shapes_dataset(str(tmp_path / 'other'), NUM['train'], NUM['val'], seed=SEED + 1,
                         size=SIZE, progress=False)
    other = read_tree(str(tmp_path / 'other'))
    coco_image = f'coco/train/{name("train", 0)}.jpg'
    assert other[coco_image] != first[coco_image]
    assert other['coco/annotations/instances_val.json'] != \
        first['coco/annotations/instances_val.json']


def test_scenes_are_well_formed():
    for index in range(30):
        scene = draw_scene(scene_rng(0, 'train', index))
        assert scene.image.shape == (224, 224, 3) and scene.image.dtype == np.uint8
        assert 1 <= len(scene.instances) <= 5
        coverage = np.sum([inst.mask for inst in scene.instances], axis=0)
        assert coverage.max() == 1  # visible masks are disjoint
        for inst in scene.instances:
            # Dropped when under 0.2% of the image; a shape is at most ~40% of it.
            assert 0.002 * 224 * 224 <= inst.area <= 0.4 * 224 * 224
            x, y, w, h = inst.bbox
            ys, xs = np.nonzero(inst.mask)
            assert (x, y, x + w - 1, y + h - 1) == (xs.min(), ys.min(), xs.max(), ys.max())
    assert draw_scene(5).image.tobytes() == draw_scene(5).image.tobytes()
    assert draw_scene(5).image.tobytes() != draw_scene(6).image.tobytes()


def test_label_is_the_main_shape_a_glance_finds():
    train = [draw_dataset_scene(0, 'train', i) for i in range(60)]
    labels = np.bincount([s.label for s in train], minlength=K)
    assert labels.tolist() == [10] * K  # the main shape cycles through the classes
    for scene in train:
        areas = sorted((inst.area, inst.class_id) for inst in scene.instances)
        # The main shape keeps >= 70 % of its area, each other one has <= 1 / 4.4 of it: the
        # largest visible instance is the label's, >= 0.7 * 4.4 = 3.08 times the next one.
        assert areas[-1][1] == scene.label
        if len(areas) > 1:
            assert areas[-1][0] >= 3.08 * areas[-2][0]
    # The pool is a third stream of scenes, independent of the labelled ones.
    pool = draw_dataset_scene(0, 'pool', 0, 64).image
    assert pool.tobytes() not in {draw_dataset_scene(0, split, 0, 64).image.tobytes()
                                  for split in ('train', 'val')}


def test_label_png_matches_instance_masks(data):
    for split in ('train', 'val'):
        for index, scene in enumerate(scenes(split)):
            png = osp.join(data, 'ade/annotations', ADE_SPLIT[split], f'{name(split, index)}.png')
            labels = np.asarray(Image.open(png))
            assert labels.shape == (SIZE, SIZE) and labels.dtype == np.uint8
            shapes = np.zeros((SIZE, SIZE), dtype=bool)
            for inst in scene.instances:
                assert np.all(labels[inst.mask] == inst.class_id + 2)
                shapes |= inst.mask
            # Every other pixel is background (1); 0 ("other") never occurs.
            assert np.all(labels[~shapes] == 1)
            image = np.asarray(Image.open(osp.join(data, 'ade/images', ADE_SPLIT[split],
                                                   f'{name(split, index)}.jpg')))
            # The JPEG is the scene's image up to compression of its pixel noise (a mean error of
            # about 6 levels; a different scene is about 45 levels off).
            assert np.abs(image.astype(int) - scene.image).mean() < 10


def test_coco_masks_areas_boxes_equal_the_generator(data):
    for split in ('train', 'val'):
        coco = COCO(osp.join(data, f'coco/annotations/instances_{split}.json'))
        assert [c['name'] for c in coco.loadCats(coco.getCatIds())] == list(SHAPE_CLASSES)
        assert coco.getCatIds() == list(range(1, K + 1))
        expected = scenes(split)
        assert len(coco.getImgIds()) == NUM[split]
        assert len(coco.getAnnIds()) == sum(len(s.instances) for s in expected)
        for index, scene in enumerate(expected):
            img = coco.loadImgs(index + 1)[0]
            assert img['file_name'] == f'{name(split, index)}.jpg'
            assert osp.isfile(osp.join(data, 'coco', split, img['file_name']))
            anns = coco.loadAnns(coco.getAnnIds(imgIds=index + 1))
            assert len(anns) == len(scene.instances)
            for ann, inst in zip(anns, scene.instances):
                mask = mask_utils.decode(ann['segmentation']).astype(bool)
                assert np.array_equal(mask, inst.mask)
                assert ann['area'] == inst.mask.sum() == inst.area
                assert ann['bbox'] == list(inst.bbox)
                assert ann['category_id'] == inst.class_id + 1 and ann['iscrowd'] == 0


def test_classification_label_is_largest_class_in_the_label_png(data):
    for split in ('train', 'val'):
        with open(osp.join(data, 'cls/meta', f'{split}.txt')) as f:
            lines = [line.split() for line in f]
        assert len(lines) == NUM[split]
        for index, (path, label) in enumerate(lines):
            png = osp.join(data, 'ade/annotations', ADE_SPLIT[split], f'{name(split, index)}.png')
            pixels = np.bincount(np.asarray(Image.open(png)).ravel(), minlength=K + 2)
            assert int(label) == int(np.argmax(pixels[2:]))
            assert path == f'{SHAPE_CLASSES[int(label)]}/{name(split, index)}.jpg'
            assert osp.isfile(osp.join(data, 'cls', split, path))


def test_mmpretrain_custom_dataset_reads_folders_and_meta_files(data):
    from mmpretrain.datasets import CustomDataset
    root = osp.join(data, 'cls')
    for split in ('train', 'val'):
        folders = CustomDataset(data_root=root, data_prefix=split, pipeline=[])
        # Every class folder exists even when empty, so class indices never shift.
        assert folders.metainfo['classes'] == SHAPE_CLASSES
        assert len(folders) == NUM[split]
        listed = CustomDataset(data_root=root, ann_file=f'meta/{split}.txt', data_prefix=split,
                               metainfo=dict(classes=SHAPE_CLASSES), pipeline=[])
        by_path = {info['img_path']: info['gt_label'] for info in listed.load_data_list()}
        assert {info['img_path']: info['gt_label'] for info in folders.load_data_list()} == by_path
        assert sorted(by_path.values()) == sorted(s.label for s in scenes(split))


def test_mmdet_coco_dataset_loads_and_coco_metric_scores_ground_truth(data):
    import torch
    from mmdet.datasets import CocoDataset
    from mmdet.evaluation import CocoMetric
    pipeline = [dict(type='LoadImageFromFile'),
                dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
                dict(type='PackDetInputs')]
    with DefaultScope.overwrite_default_scope('mmdet'):
        dataset = CocoDataset(data_root=osp.join(data, 'coco'),
                              ann_file='annotations/instances_val.json',
                              data_prefix=dict(img='val/'), metainfo=dict(classes=SHAPE_CLASSES),
                              pipeline=pipeline)
        samples = [dataset[i]['data_samples'] for i in range(len(dataset))]
    assert len(dataset) == NUM['val']
    for sample, scene in zip(samples, scenes('val')):
        gt = sample.gt_instances
        assert gt.labels.tolist() == [inst.class_id for inst in scene.instances]
        assert np.array_equal(gt.masks.masks.astype(bool),
                              np.stack([inst.mask for inst in scene.instances]))

    def evaluate(shift: int) -> dict:
        metric = CocoMetric(ann_file=osp.join(data, 'coco/annotations/instances_val.json'),
                            metric=['bbox', 'segm'])
        metric.dataset_meta = dataset.metainfo
        for sample in samples:
            gt = sample.gt_instances
            metric.process({}, [{
                'img_id': sample.img_id, 'ori_shape': sample.ori_shape,
                'pred_instances': {'bboxes': gt.bboxes.tensor, 'scores': torch.ones(len(gt)),
                                   'labels': (gt.labels + shift) % K,
                                   'masks': torch.from_numpy(gt.masks.masks.astype(bool))}}])
        return metric.evaluate(len(samples))

    perfect = evaluate(shift=0)
    assert perfect['coco/bbox_mAP'] == pytest.approx(1.0)
    assert perfect['coco/segm_mAP'] == pytest.approx(1.0)
    wrong_class = evaluate(shift=1)
    assert wrong_class['coco/bbox_mAP'] == 0 and wrong_class['coco/segm_mAP'] == 0


def test_shapes_seg_dataset_builds_from_an_mmseg_scope(data):
    from mmseg.registry import DATASETS as MMSEG_DATASETS
    pipeline = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations'),
                dict(type='PackSegInputs')]
    with DefaultScope.overwrite_default_scope('mmseg'):
        dataset = MMSEG_DATASETS.build(dict(
            type='mmconvnextv2.ShapesSegDataset', data_root=osp.join(data, 'ade'),
            data_prefix=dict(img_path='images/validation', seg_map_path='annotations/validation'),
            pipeline=pipeline))
        sample = dataset[1]['data_samples']
    assert isinstance(dataset, ShapesSegDataset) and len(dataset) == NUM['val']
    assert dataset.metainfo['classes'] == ('background', *SHAPE_CLASSES)
    # The pipeline resolved in the mmseg scope: mmseg's LoadAnnotations reduces label 0.
    assert dataset.pipeline.transforms[1].__module__.startswith('mmseg.')
    expected = scenes('val')[1].label_map().astype(np.int64) - 1
    assert np.array_equal(sample.gt_sem_seg.data[0].numpy(), expected)


def test_ensure_skips_a_complete_output_and_regenerates_on_new_arguments(data, tmp_path, capsys):
    out = str(tmp_path / 'shapes')
    ensure_shapes_dataset(out, 12, 4, seed=SEED, size=SIZE, progress=False)
    manifest = osp.join(out, MANIFEST_NAME)
    # The same files, and the (empty) lock file that serialises concurrent calls.
    assert read_tree(out) == {**read_tree(data), '.shapes_lock': b''}
    stamp = os.stat(manifest).st_mtime_ns
    ensure_shapes_dataset(out, 12, 4, seed=SEED, size=SIZE)
    assert 'not regenerated' in capsys.readouterr().out
    assert os.stat(manifest).st_mtime_ns == stamp

    ensure_shapes_dataset(out, 12, 3, seed=SEED, size=SIZE, progress=False)
    with open(manifest) as f:
        assert json.load(f)['num_val'] == 3
    # The fourth validation scene of the earlier run is gone from every layout.
    assert not any(name('val', 3) in path for path in read_tree(out))
    with open(osp.join(out, 'coco/annotations/instances_val.json')) as f:
        assert len(json.load(f)['images']) == 3


def test_cli_reports_layouts_and_skips_when_complete(tmp_path, monkeypatch, capsys):
    out = str(tmp_path / 'cli')
    argv = ['generate_shapes.py', '--out', out, '--num-train', '6', '--num-val', '2']
    monkeypatch.setattr(sys, 'argv', argv)
    runpy.run_path(osp.join(REPO, 'tools/generate_shapes.py'), run_name='__main__')
    printed = capsys.readouterr().out
    assert 'shapes: 8/8 scenes' in printed
    for layout in ('cls', 'coco', 'ade'):
        assert osp.join(out, layout) in printed
    assert len(os.listdir(osp.join(out, 'coco/train'))) == 6
    runpy.run_path(osp.join(REPO, 'tools/generate_shapes.py'), run_name='__main__')
    assert 'not regenerated' in capsys.readouterr().out


@pytest.mark.parametrize('kwargs', [dict(num_train=0), dict(num_val=-1), dict(seed=-1),
                                    dict(size=32)])
def test_bad_arguments_raise(tmp_path, kwargs):
    with pytest.raises(ValueError):
        write_shapes_dataset(str(tmp_path), **{'num_train': 2, 'num_val': 1, **kwargs})
    assert not os.listdir(tmp_path)


def test_bad_scene_arguments_raise():
    with pytest.raises(ValueError, match='split'):
        scene_rng(0, 'test', 0)
    with pytest.raises(ValueError, match='main_class'):
        draw_scene(0, main_class=K)
    with pytest.raises(ValueError, match='size'):
        draw_scene(0, size=63)
