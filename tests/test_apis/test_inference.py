"""The zoo by name through mmpretrain's, mmdet's and mmseg's own entry points.

For each task, the inferencer that a name builds predicts on bundled scenes what the runner of
``tools/test.py`` predicts with the same config and zoo checkpoint, read through the config's
test data loader: the same transforms on the same pictures, so the same network input. Both run
the same float32 network on the CPU, one batch of all scenes against one scene at a time, so
scores and boxes agree to float32 rounding and the decisions made from them (class, kept boxes,
mask pixels, pixel labels) are equal.
"""
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
import torch
import yaml
from mmengine.config import Config
from mmengine.hooks import Hook
from PIL import Image

import mmconvnextv2.datasets.shapes as shapes_module
from mmconvnextv2.apis.inference import register_zoo, zoo_root
from mmconvnextv2.datasets import (SHAPE_CLASSES, ShapesSegDataset, draw_dataset_scene,
                                   ensure_shapes_dataset)
from mmconvnextv2.utils import SCOPE, build_runner, load_weights_only

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CLASSIFIER = 'convnextv2-atto_shapes'
MASK_RCNN = 'mask-rcnn_convnextv2-atto_fpn_shapes'
UPERNET = 'convnextv2-atto_upernet_shapes'
NUM_SCENES = 3
# float32 rounding of the same network on a batch of all scenes and on one scene at a time: the
# convolutions and matmuls sum in another order, each of the detector's ~60 layers adds about one
# unit roundoff (6e-8) to the relative error of its output, and the sigmoid/softmax of a score
# passes it on scaled by at most 1/4: a score moves by well under 1e-5 (seen: up to 1.1e-6 with
# torch 2.1's kernels, 1e-7 with torch 2.14's). Box corners near 320 px, one unit in the last
# place 3e-5 px, move by a few of those (seen: 8e-5 px).
SCORE_TOLERANCE = dict(rtol=0.0, atol=1e-5)
BOX_TOLERANCE = dict(rtol=0.0, atol=1e-3)


def zoo_entry(name: str) -> dict:
    """The entry ``name`` of zoo/metafile.yml, its Config and Weights as absolute paths."""
    with open(osp.join(REPO, 'zoo/metafile.yml')) as f:
        entry, = [model for model in yaml.safe_load(f)['Models'] if model['Name'] == name]
    return dict(entry, Config=osp.join(REPO, entry['Config']),
                Weights=osp.join(REPO, entry['Weights']))


class _KeepPredictions(Hook):
    """Keeps what the model returns for every test batch."""

    def __init__(self) -> None:
        self.predictions = []

    def after_test_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        self.predictions.extend(outputs)


def tools_test_predictions(cfg: Config, weights: str, work_dir: str) -> list:
    """The predictions of ``tools/test.py CONFIG WEIGHTS``: its runner, its test loop."""
    cfg.load_from, cfg.work_dir = weights, work_dir
    cfg.test_dataloader.update(num_workers=0, persistent_workers=False)
    runner = build_runner(cfg)
    keep = _KeepPredictions()
    runner.register_hook(keep)
    runner.test()
    return keep.predictions


def enter_a_root_without_data(tmp_path, monkeypatch) -> None:
    """Makes the current directory one like the repository root, to which the metafile's weights
    paths are relative (mmdet and mmseg read them as they are), but without generated data; and
    makes writing shapes scenes fail: an inferencer reads no more than a data set's metainfo, it
    must not write the config's 1400 scenes into the current directory."""
    root = tmp_path / 'root'
    root.mkdir()
    (root / 'zoo').symlink_to(osp.join(REPO, 'zoo'))
    monkeypatch.chdir(root)

    def refuse(out_dir, *args, **kwargs):
        raise AssertionError(f'The inferencer wrote the shapes scenes of {out_dir}.')
    monkeypatch.setattr(shapes_module, 'write_shapes_dataset', refuse)


def generated_scenes(cfg: Config, out_dir: str) -> dict[str, str]:
    """The first NUM_SCENES validation scenes of ``cfg``'s settings, written into ``out_dir``;
    ``cfg``'s test data set and evaluator read them. Returns the paths of the layouts."""
    scenes = dict(cfg.test_dataloader.dataset.scenes, num_train=1, num_val=NUM_SCENES)
    paths = ensure_shapes_dataset(out_dir, **scenes, progress=False)
    layout = osp.basename(osp.normpath(cfg.test_dataloader.dataset.data_root))
    cfg.test_dataloader.dataset.update(data_root=paths[layout], scenes=scenes)
    if layout == 'coco':
        cfg.test_evaluator.ann_file = paths['coco_val_ann']
    return paths


def test_register_zoo_changes_nothing_at_import_and_may_be_called_twice():
    # In a fresh process: other tests register the zoo in this one.
    code = '\n'.join([
        'from mmengine.config.utils import MODULE2PACKAGE',
        'from mmpretrain.apis import ModelHub',
        'from mmconvnextv2.apis.inference import register_zoo',
        f'names = [{CLASSIFIER!r}, {MASK_RCNN!r}, {UPERNET!r}]',
        "assert 'mmconvnextv2' not in MODULE2PACKAGE",
        'assert not any(ModelHub.has(name) for name in names)',
        'register_zoo()',
        'weights = ModelHub._models_dict[names[0]].weights',
        'register_zoo()',
        "assert MODULE2PACKAGE['mmconvnextv2'] == 'mmconvnextv2'",
        'assert all(ModelHub.has(name) for name in names)',
        'assert ModelHub._models_dict[names[0]].weights == weights',
        'print(weights)',
    ])
    done = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == zoo_entry(CLASSIFIER)['Weights']


def test_zoo_root_is_the_folder_of_the_model_index():
    assert zoo_root() == REPO
    assert osp.isfile(osp.join(zoo_root(), 'model-index.yml'))


def test_get_model_loads_the_zoo_weights_from_any_directory(tmp_path, monkeypatch):
    from mmpretrain import get_model, list_models
    register_zoo()
    monkeypatch.chdir(tmp_path)
    assert CLASSIFIER in list_models('convnextv2-atto_')
    model = get_model(CLASSIFIER, pretrained=True)
    zoo = load_weights_only(zoo_entry(CLASSIFIER)['Weights'])['state_dict']
    loaded = model.state_dict()
    assert zoo.keys() <= loaded.keys()
    for key, value in zoo.items():
        # The zoo stores float16; the model holds them exactly in float32.
        assert torch.equal(loaded[key], value.to(loaded[key].dtype)), key
    assert model._dataset_meta['classes'] == SHAPE_CLASSES


def test_classifier_by_name_predicts_as_tools_test(tmp_path, monkeypatch):
    from mmpretrain import ImageClassificationInferencer
    register_zoo()
    entry = zoo_entry(CLASSIFIER)
    cfg = Config.fromfile(entry['Config'])
    dataset = cfg.test_dataloader.dataset
    dataset.num_scenes = NUM_SCENES
    expected = tools_test_predictions(cfg, entry['Weights'], str(tmp_path / 'work'))
    assert len(expected) == NUM_SCENES

    # The data set's scenes as picture files (PNG: the same pixels), read from elsewhere.
    images = []
    for index in range(NUM_SCENES):
        images.append(str(tmp_path / f'scene_{index}.png'))
        scene = draw_dataset_scene(dataset.get('seed', 0), dataset.split, index, dataset.size)
        Image.fromarray(scene.image).save(images[-1])
    monkeypatch.chdir(tmp_path)
    results = ImageClassificationInferencer(CLASSIFIER)(images)

    for result, sample in zip(results, expected):
        assert result['pred_label'] == int(sample.pred_label)
        assert result['pred_class'] == SHAPE_CLASSES[result['pred_label']]
        torch.testing.assert_close(torch.from_numpy(result['pred_scores']), sample.pred_score,
                                   **SCORE_TOLERANCE)


def test_mask_rcnn_by_name_predicts_as_tools_test(tmp_path, monkeypatch):
    from mmdet.apis import DetInferencer
    register_zoo()
    entry = zoo_entry(MASK_RCNN)
    cfg = Config.fromfile(entry['Config'])
    paths = generated_scenes(cfg, str(tmp_path / 'shapes'))
    expected = tools_test_predictions(cfg, entry['Weights'], str(tmp_path / 'work'))
    assert len(expected) == NUM_SCENES

    enter_a_root_without_data(tmp_path, monkeypatch)
    inferencer = DetInferencer(MASK_RCNN, scope=SCOPE, show_progress=False)
    images = [sample.img_path for sample in expected]
    assert all(path.startswith(paths['coco']) for path in images)
    results = inferencer(images, return_datasamples=True)['predictions']

    for result, sample in zip(results, expected):
        ours, theirs = result.pred_instances, sample.pred_instances
        assert len(theirs) > 0
        assert torch.equal(ours.labels, theirs.labels)
        torch.testing.assert_close(ours.scores, theirs.scores, **SCORE_TOLERANCE)
        torch.testing.assert_close(ours.bboxes, theirs.bboxes, **BOX_TOLERANCE)
        assert torch.equal(ours.masks, theirs.masks)
    # What the visualizer writes beside the boxes: the classes of the config, not COCO's.
    assert tuple(inferencer.model.dataset_meta['classes']) == SHAPE_CLASSES


def test_upernet_by_name_predicts_as_tools_test(tmp_path, monkeypatch):
    from mmseg.apis import MMSegInferencer
    register_zoo()
    entry = zoo_entry(UPERNET)
    cfg = Config.fromfile(entry['Config'])
    generated_scenes(cfg, str(tmp_path / 'shapes'))
    expected = tools_test_predictions(cfg, entry['Weights'], str(tmp_path / 'work'))
    assert len(expected) == NUM_SCENES

    enter_a_root_without_data(tmp_path, monkeypatch)
    inferencer = MMSegInferencer(UPERNET, scope=SCOPE)
    images = [sample.img_path for sample in expected]
    label_maps = [inferencer(image)['predictions'] for image in images]

    for label_map, sample in zip(label_maps, expected):
        reference = sample.pred_sem_seg.data[0].numpy()
        assert label_map.shape == reference.shape == (224, 224)
        np.testing.assert_array_equal(label_map, reference)
        assert len(np.unique(reference)) > 1  # shapes were found, not only background
    # What the visualizer names and colours: the classes and palette of ShapesSegDataset.
    assert tuple(inferencer.model.dataset_meta['classes']) == ShapesSegDataset.METAINFO['classes']
    assert inferencer.model.dataset_meta['palette'] == ShapesSegDataset.METAINFO['palette']


def test_inferencers_take_the_weights_from_elsewhere(tmp_path, monkeypatch):
    # Outside the repository root the metafile's relative weights path is not found: the
    # documented route is weights=. Building the model from it proves the name resolved.
    from mmseg.apis import MMSegInferencer
    register_zoo()
    monkeypatch.chdir(tmp_path)
    weights = zoo_entry(UPERNET)['Weights']
    with pytest.raises(FileNotFoundError):
        MMSegInferencer(UPERNET, scope=SCOPE)
    inferencer = MMSegInferencer(UPERNET, weights=weights, scope=SCOPE)
    zoo = load_weights_only(weights)['state_dict']
    loaded = inferencer.model.state_dict()
    assert all(torch.equal(loaded[key], value.float()) for key, value in zoo.items())
