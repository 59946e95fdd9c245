"""ConvNeXtV2Pretrained: FCMAE (ours and official) and classifier checkpoints into a classifier."""
import copy
import functools
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from torch import nn

from mmconvnextv2.registry import MODELS

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
ATTO_RECIPE = osp.join(REPO, 'configs/convnextv2/convnextv2-atto_32xb32_in1k.py')
FCMAE_CONFIG = osp.join(REPO, 'configs/fcmae/fcmae_convnextv2-atto_shapes.py')
DECODER_KEYS = ('neck.', 'decoder.', 'mask_token', 'proj.', 'pred.')


def randomised(model: nn.Module, seed: int) -> nn.Module:
    """Every parameter drawn at random, so that a fresh initialisation can never match it."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in model.parameters():
            param.copy_(torch.randn(param.shape, generator=generator))
    return model


@functools.cache
def config(path: str) -> Config:
    return Config.fromfile(path)


@functools.cache
def _our_fcmae_state_dict() -> dict[str, torch.Tensor]:
    model = MODELS.build(config(FCMAE_CONFIG).model)
    return {k: v.clone() for k, v in randomised(model, seed=1).state_dict().items()}


def our_fcmae_state_dict() -> dict[str, torch.Tensor]:
    """The state dict of our FCMAE model (atto): encoder under backbone., decoder under neck."""
    return dict(_our_fcmae_state_dict())


def official_fcmae(ours: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The official dense FCMAE layout: encoder keys without prefix, GRN as (1, 1, 1, C), and the
    decoder's top-level modules (decoder, mask_token, proj, pred)."""
    official = {}
    for key, value in ours.items():
        if key.startswith('backbone.'):
            name = key[len('backbone.'):]
            official[name] = value.reshape(1, 1, 1, -1) if '.grn.' in name else value
        else:
            official[key[len('neck.'):]] = value
    return official


def classifier(arch: str = 'atto', checkpoint=None, num_classes: int = 6,
               init: bool = True) -> nn.Module:
    """The fine-tuning recipe's classifier, initialised from ``checkpoint`` if ``init``."""
    cfg = copy.deepcopy(config(ATTO_RECIPE).model)
    cfg.backbone.arch = arch
    cfg.backbone.init_cfg.checkpoint = checkpoint
    cfg.head.in_channels = {'atto': 320, 'femto': 384}[arch]
    cfg.head.num_classes = num_classes
    model = MODELS.build(cfg)
    if init:
        torch.manual_seed(0)
        model.init_weights()
    return model


def assert_backbone_loaded(model: nn.Module, ours: dict[str, torch.Tensor]) -> None:
    own = model.state_dict()
    encoder = {k: v for k, v in ours.items() if k.startswith('backbone.')}
    for key, value in encoder.items():
        torch.testing.assert_close(own[key], value, rtol=0, atol=0, msg=key)
    # Everything else of the backbone is its final norm, absent from FCMAE encoders: fresh.
    rest = [k for k in own if k.startswith('backbone.') and k not in encoder]
    assert sorted(rest) == ['backbone.norm.bias', 'backbone.norm.weight']
    assert torch.equal(own['backbone.norm.weight'], torch.ones(320))
    assert not own['backbone.norm.bias'].any()
    assert not any(k.startswith(DECODER_KEYS) for k in own)


def assert_head_reinitialised(model: nn.Module) -> None:
    # The official fine-tuning head: weights of std 2e-5 (0.02 x head_init_scale 0.001), bias 0.
    assert model.head.fc.weight.std().item() == pytest.approx(2e-5, rel=0.1)
    assert not model.head.fc.bias.any()


def test_our_fcmae_runner_checkpoint(tmp_path):
    ours = our_fcmae_state_dict()
    path = tmp_path / 'epoch_8.pth'
    torch.save(dict(state_dict=ours, meta=dict(epoch=8)), path)
    model = classifier(checkpoint=str(path))
    assert_backbone_loaded(model, ours)
    assert_head_reinitialised(model)


@pytest.mark.parametrize('wrapped', [True, False])
def test_official_fcmae_checkpoint(tmp_path, wrapped):
    ours = our_fcmae_state_dict()
    official = official_fcmae(ours)
    assert {'mask_token', 'proj.weight', 'pred.weight', 'decoder.0.dwconv.weight'} <= set(official)
    path = tmp_path / 'convnextv2_atto_1k_224_fcmae.pt'
    torch.save(dict(model=official) if wrapped else official, path)
    model = classifier(checkpoint=str(path))
    assert_backbone_loaded(model, ours)
    assert_head_reinitialised(model)


def test_classifier_checkpoint_keeps_its_final_norm_and_drops_its_head(tmp_path):
    # An official IN-22K (or IN-1K) classifier: 1000-class head, final norm.
    source = randomised(classifier(num_classes=1000, init=False), seed=2)
    official = {}
    for key, value in source.state_dict().items():
        name = key[len('backbone.'):] if key.startswith('backbone.') else key.replace('.fc.', '.')
        official[name] = value.reshape(1, 1, 1, -1) if '.grn.' in name else value
    path = tmp_path / 'convnextv2_atto_1k_224_ema.pt'
    torch.save(dict(model=official), path)
    model = classifier(checkpoint=str(path))
    for key, value in source.state_dict().items():
        if key.startswith('backbone.'):
            torch.testing.assert_close(model.state_dict()[key], value, rtol=0, atol=0)
    assert model.head.fc.weight.shape == (6, 320)
    assert_head_reinitialised(model)


def test_checkpoint_of_another_size_names_both_sizes(tmp_path):
    path = tmp_path / 'atto_fcmae.pt'
    torch.save(dict(model=official_fcmae(our_fcmae_state_dict())), path)
    with pytest.raises(ValueError) as error:
        classifier('femto', checkpoint=str(path))
    message = str(error.value)
    assert 'ConvNeXt V2-atto' in message and 'model is ConvNeXt V2-femto' in message
    assert '[40, 80, 160, 320]' in message and '[48, 96, 192, 384]' in message


def test_missing_checkpoint_says_how_to_set_it():
    with pytest.raises(ValueError, match=r'model\.backbone\.init_cfg\.checkpoint=PATH'):
        classifier(checkpoint=None)


def test_init_cfg_on_a_module_that_is_not_a_convnextv2_backbone(tmp_path):
    path = tmp_path / 'atto_fcmae.pt'
    torch.save(dict(model=official_fcmae(our_fcmae_state_dict())), path)
    from mmengine.model.weight_init import initialize
    with pytest.raises(TypeError, match=r'Put the init_cfg on the\s+backbone'):
        initialize(nn.Linear(2, 2), dict(type='mmconvnextv2.ConvNeXtV2Pretrained',
                                         checkpoint=str(path)))
