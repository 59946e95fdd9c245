"""The image demos of demo/: each, on its default scene, writes that scene, draws the prediction
on a picture of its size, and returns (and prints) what the library's inferencer predicts for
it, built here on its own from the same zoo name."""
import importlib.util
import os.path as osp
from types import ModuleType

import numpy as np
import pytest
from PIL import Image

from mmconvnextv2.apis.inference import register_zoo
from mmconvnextv2.datasets import SHAPE_CLASSES, draw_dataset_scene
from mmconvnextv2.utils import SCOPE

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEMO = osp.join(REPO, 'demo')


def load_demo(name: str, monkeypatch) -> ModuleType:
    """The script demo/<name>.py as a module; its sibling modules importable, as when run."""
    monkeypatch.syspath_prepend(DEMO)
    spec = importlib.util.spec_from_file_location(f'demo_{name}', osp.join(DEMO, f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def check_pictures(out_dir: str, size: int) -> str:
    """Checks the default scene (the first validation scene at ``size`` px) and its drawn copy
    in ``out_dir``; returns the scene's path."""
    scene = osp.join(out_dir, f'shapes_val_000000_{size}px.png')
    drawn = np.asarray(Image.open(osp.join(out_dir, 'vis', osp.basename(scene))).convert('RGB'))
    pixels = np.asarray(Image.open(scene))
    np.testing.assert_array_equal(pixels, draw_dataset_scene(0, 'val', 0, size).image)
    assert drawn.shape == pixels.shape == (size, size, 3)
    assert (drawn != pixels).any(axis=-1).mean() > 0.01  # something was drawn
    return scene


def test_classification_demo(tmp_path, monkeypatch, capsys):
    from mmpretrain import ImageClassificationInferencer
    demo = load_demo('image_demo', monkeypatch)
    prediction = demo.main(['--out-dir', str(tmp_path), '--device', 'cpu'])
    scene = check_pictures(str(tmp_path), 96)

    register_zoo()
    expected, = ImageClassificationInferencer('convnextv2-atto_shapes')(scene)
    assert prediction['pred_label'] == expected['pred_label']
    assert prediction['pred_score'] == pytest.approx(expected['pred_score'], abs=1e-6)
    assert expected['pred_class'] in SHAPE_CLASSES
    assert f'{expected["pred_class"]} ({expected["pred_score"]:.3f})' in capsys.readouterr().out


def test_detection_demo(tmp_path, monkeypatch, capsys):
    from mmdet.apis import DetInferencer
    monkeypatch.chdir(REPO)  # the metafile's weights path is relative to the repository root
    demo = load_demo('det_image_demo', monkeypatch)
    out_dir = str(tmp_path / 'out')
    prediction = demo.main(['--out-dir', out_dir, '--device', 'cpu'])
    scene = check_pictures(out_dir, 320)

    register_zoo()
    inferencer = DetInferencer('mask-rcnn_convnextv2-atto_fpn_shapes', scope=SCOPE,
                               show_progress=False)
    expected = inferencer(scene)['predictions'][0]
    assert prediction['labels'] == expected['labels']
    np.testing.assert_allclose(prediction['scores'], expected['scores'], rtol=0, atol=1e-6)
    np.testing.assert_allclose(prediction['bboxes'], expected['bboxes'], rtol=0, atol=1e-3)
    printed = capsys.readouterr().out.splitlines()
    shown = [i for i, score in enumerate(expected['scores']) if score >= 0.3]
    assert shown, 'no instance scored 0.3 or more'
    for i in shown:
        assert any(line.split()[:2] == [SHAPE_CLASSES[expected['labels'][i]],
                                        f'{expected["scores"][i]:.3f}'] for line in printed)


def test_segmentation_demo(tmp_path, monkeypatch, capsys):
    from mmseg.apis import MMSegInferencer
    monkeypatch.chdir(REPO)
    demo = load_demo('seg_image_demo', monkeypatch)
    out_dir = str(tmp_path / 'out')
    label_map = demo.main(['--out-dir', out_dir, '--device', 'cpu'])
    scene = check_pictures(out_dir, 224)

    register_zoo()
    expected = MMSegInferencer('convnextv2-atto_upernet_shapes', scope=SCOPE)(scene)['predictions']
    np.testing.assert_array_equal(label_map, expected)
    saved = np.asarray(Image.open(osp.join(out_dir, 'pred', '00000000_pred.png')))
    np.testing.assert_array_equal(saved, expected)
    printed = capsys.readouterr().out
    classes = ('background', *SHAPE_CLASSES)
    for label in np.unique(expected):
        share = (expected == label).mean()
        assert f'{classes[label]:<10} {share:6.1%} of the pixels' in printed
