"""Export of our FCMAE runs' encoder (tools/model_converters/fcmae_to_backbone.py)."""
import runpy
import sys
from pathlib import Path

import torch
from mmengine.runner import load_checkpoint
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

import mmconvnextv2.models  # noqa: F401  (registers FCMAE and its parts)
from mmconvnextv2.models import ConvNeXtV2
from mmconvnextv2.utils import load_weights_only

REPO = Path(__file__).resolve().parents[2]
CLI = REPO / 'tools' / 'model_converters' / 'fcmae_to_backbone.py'
SMALL = dict(depths=[1, 1, 2, 1], channels=[8, 16, 24, 32])


def trained_fcmae() -> torch.nn.Module:
    """A seeded-mask FCMAE after one step: random weights and a counted ``mask_step``."""
    torch.manual_seed(0)
    model = MODELS.build(dict(
        type='mmconvnextv2.FCMAE', mask_seed=0,
        backbone=dict(type='mmconvnextv2.SparseConvNeXtV2', arch=SMALL),
        neck=dict(type='mmconvnextv2.FCMAEDecoder', in_channels=32, embed_dim=16),
        head=dict(type='mmconvnextv2.FCMAEReconstructionHead')))
    model.init_weights()
    with torch.no_grad():
        for param in model.parameters():
            param.add_(torch.randn_like(param), alpha=0.1)
    samples = [DataSample(metainfo=dict(sample_idx=index)) for index in range(2)]
    model.loss(torch.randn(2, 3, 64, 64), samples)
    return model


def test_seeded_fcmae_checkpoint_exports_and_loads_into_the_backbone(tmp_path, monkeypatch):
    fcmae = trained_fcmae()
    state_dict = fcmae.state_dict()
    assert int(state_dict['mask_step']) == 1
    src, dst = tmp_path / 'epoch_1.pth', tmp_path / 'encoder.pth'
    torch.save(dict(state_dict=state_dict, meta=dict(epoch=1)), src)
    monkeypatch.setattr(sys, 'argv', [str(CLI), str(src), str(dst)])
    runpy.run_path(str(CLI), run_name='__main__')

    exported = load_weights_only(dst)['state_dict']
    assert set(exported) == {f'backbone.{key}' for key in fcmae.backbone.state_dict()}
    backbone = ConvNeXtV2(arch=SMALL, with_out_norms=False)
    load_checkpoint(backbone, str(dst), strict=True, revise_keys=[(r'^backbone\.', '')])
    for key, value in fcmae.backbone.state_dict().items():
        torch.testing.assert_close(backbone.state_dict()[key], value, rtol=0, atol=0, msg=key)
