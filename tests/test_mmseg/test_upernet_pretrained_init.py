"""The UperNet configs initialise the backbone from the IN-1K fine-tuned classifier: an
official-layout checkpoint, as downloaded or converted with our converter, loads into the
segmentor's backbone through the config's ``init_cfg``, and its classifier head is left out."""
import os.path as osp

import pytest
import torch
from mmengine import Config, DefaultScope
from mmseg.registry import MODELS
from mmseg.utils import register_all_modules

from mmconvnextv2.converters import convert_checkpoint
from mmconvnextv2.models import ConvNeXtV2

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(REPO, 'configs/upernet/convnextv2-atto_upernet_8xb2-160k_ade20k-512x512.py')

register_all_modules(init_default_scope=False)


def official_checkpoint(path: str) -> dict:
    """A random Atto classifier saved as the official release does: ``{'model': ...}``, GRN
    parameters shaped (1, 1, 1, C), a 1000-class ``head``; returns its backbone tensors."""
    torch.manual_seed(0)
    backbone = ConvNeXtV2('atto', out_indices=-1)
    state = {}
    for key, value in backbone.state_dict().items():
        value = value + torch.randn_like(value)  # distinguishable from any initialisation
        state[key] = value.reshape(1, 1, 1, -1) if '.grn.' in key else value
    state['head.weight'] = torch.randn(1000, 320)
    state['head.bias'] = torch.randn(1000)
    torch.save({'model': state}, path)
    return {key: value.reshape(-1) if '.grn.' in key else value for key, value in state.items()
            if not key.startswith('head.')}


@pytest.mark.parametrize('converted', [False, True], ids=['official', 'converted'])
def test_config_init_loads_the_classifier_into_the_backbone(tmp_path, converted):
    official = str(tmp_path / 'convnextv2_atto_1k_224_ema.pt')
    expected = official_checkpoint(official)
    checkpoint = str(tmp_path / 'convnextv2-atto_in1k.pth') if converted else official
    if converted:
        convert_checkpoint(official, checkpoint, arch='atto')

    cfg = Config.fromfile(CONFIG)
    cfg.model.backbone.init_cfg.checkpoint = checkpoint
    with DefaultScope.overwrite_default_scope('mmseg'):
        model = MODELS.build(cfg.model)
        model.init_weights()
    loaded = model.backbone.state_dict()
    for key, value in expected.items():
        torch.testing.assert_close(loaded[key], value, rtol=0, atol=0, msg=key)
    # The output norms of stages 0-2 are not in a classifier; they start as identity norms.
    for index in range(3):
        norm = getattr(model.backbone, f'norm{index}')
        assert torch.equal(norm.weight, torch.ones_like(norm.weight))
        assert torch.equal(norm.bias, torch.zeros_like(norm.bias))
    # Nothing of the classifier head reaches the segmentor.
    assert not any(key.startswith('head') for key in model.state_dict())
