"""ShapesClsDataset renders exactly the scenes the writer puts on disk, with their labels."""
import numpy as np
import pytest
from mmengine import DefaultScope

from mmconvnextv2.datasets import (SHAPE_CLASSES, ShapesClsDataset, draw_dataset_scene,
                                   write_shapes_dataset)


def test_items_are_the_written_scenes_in_bgr_with_their_labels(tmp_path):
    paths = write_shapes_dataset(str(tmp_path), num_train=7, num_val=1, seed=2, size=64,
                                 progress=False)
    dataset = ShapesClsDataset(num_scenes=5, split='train', seed=2, size=64, start=2)
    with open(paths['cls_train_ann']) as f:
        written = [int(line.split()[1]) for line in f][2:]
    assert len(dataset) == 5
    for i in range(5):
        item = dataset[i]  # no pipeline: the data info itself
        scene = draw_dataset_scene(2, 'train', 2 + i, 64)
        np.testing.assert_array_equal(item['img'], scene.image[..., ::-1])
        assert item['img_shape'] == (64, 64)
        assert item['gt_label'] == scene.label == written[i]
    assert dataset.metainfo['classes'] == SHAPE_CLASSES


def test_subsets_are_balanced_and_pool_is_unlabelled():
    labels = ShapesClsDataset(num_scenes=60, size=64).get_gt_labels()
    assert np.bincount(labels).tolist() == [10] * len(SHAPE_CLASSES)
    pool = ShapesClsDataset(num_scenes=3, split='pool', size=64, with_label=False)
    assert 'gt_label' not in pool[0]
    np.testing.assert_array_equal(pool[1]['img'],
                                  draw_dataset_scene(0, 'pool', 1, 64).image[..., ::-1])


def test_pipeline_from_a_config_runs():
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        dataset = ShapesClsDataset(
            num_scenes=2, size=64,
            pipeline=[dict(type='RandomFlip', prob=1.0, direction='horizontal'),
                      dict(type='PackInputs')])
        packed = dataset[1]
    flipped = draw_dataset_scene(0, 'train', 1, 64).image[:, ::-1, ::-1]
    np.testing.assert_array_equal(packed['inputs'].permute(1, 2, 0).numpy(), flipped)
    assert packed['data_samples'].gt_label.tolist() == [1]


@pytest.mark.parametrize('kwargs, match', [
    (dict(num_scenes=0), 'num_scenes'), (dict(num_scenes=2, start=-1), 'start'),
    (dict(num_scenes=2, split='test'), 'split'),
    (dict(num_scenes=2, split='pool'), 'unlabelled'),
    (dict(num_scenes=2, size=32), 'size')])
def test_bad_arguments_name_the_problem(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ShapesClsDataset(**kwargs)
