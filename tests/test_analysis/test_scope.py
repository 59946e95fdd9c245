"""The analysis builders use the config's scope and leave the caller's default scope as it was."""
import numpy as np
import pytest
from mmengine.config import Config
from mmengine.registry import DefaultScope
from PIL import Image

from mmconvnextv2.analysis import ImageSource, build_model, load_image

CLASSIFIER = Config(dict(default_scope='mmpretrain', model=dict(
    type='ImageClassifier',
    backbone=dict(type='mmconvnextv2.ConvNeXtV2',
                  arch=dict(depths=[1, 1, 1, 1], channels=[8, 16, 24, 32])),
    head=dict(type='LinearClsHead', num_classes=2, in_channels=32))))


@pytest.fixture()
def image_folder(tmp_path):
    (tmp_path / 'a').mkdir()
    pixels = np.random.default_rng(0).integers(0, 256, (40, 48, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / 'a' / '0.png')
    return tmp_path


def test_builders_restore_the_callers_scope(image_folder):
    with DefaultScope.overwrite_default_scope('mmseg'):
        model = build_model(CLASSIFIER)
        dataset = ImageSource(image_folder=str(image_folder), img_size=32).build()
        image = load_image(str(image_folder / 'a' / '0.png'), 32)
        assert DefaultScope.get_current_instance().scope_name == 'mmseg'
    assert type(model).__module__.startswith('mmpretrain')
    assert len(dataset) == 1 and tuple(image.shape) == (3, 32, 32)
