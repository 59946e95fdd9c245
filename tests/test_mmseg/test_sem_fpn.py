"""Our backbone in a second mmseg decode head: Semantic FPN (FPN neck + FPNHead), built from its
config in the mmseg scope, trained one step and run for prediction."""
import os.path as osp

import pytest
import torch
from mmengine import Config, DefaultScope
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from mmseg.utils import register_all_modules

from mmconvnextv2.models import ConvNeXtV2

pytestmark = pytest.mark.slow  # starts real training runs

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(REPO, 'configs/sem_fpn/convnextv2-tiny_fpn_4xb4-160k_ade20k-512x512.py')
SIZE = 64

register_all_modules(init_default_scope=False)


def batch(num: int) -> dict:
    """Images and label maps as a data loader yields them (uint8 images, no normalisation yet)."""
    generator = torch.Generator().manual_seed(0)
    inputs = [torch.randint(0, 256, (3, SIZE, SIZE), generator=generator, dtype=torch.uint8)
              for _ in range(num)]
    samples = []
    for _ in range(num):
        sample = SegDataSample(metainfo=dict(img_shape=(SIZE, SIZE), ori_shape=(SIZE, SIZE),
                                             pad_shape=(SIZE, SIZE)))
        labels = torch.randint(0, 150, (1, SIZE, SIZE), generator=generator)
        sample.gt_sem_seg = PixelData(data=labels)
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


def test_semantic_fpn_with_our_backbone_trains_and_predicts():
    cfg = Config.fromfile(CONFIG)
    # A forward pass needs no ImageNet weights; crops padded to the test's size.
    cfg.model.backbone.init_cfg = None
    cfg.model.data_preprocessor.size = (SIZE, SIZE)
    with DefaultScope.overwrite_default_scope('mmseg'):
        model = MODELS.build(cfg.model)
    model.init_weights()
    assert isinstance(model.backbone, ConvNeXtV2) and model.backbone.arch['channels'][0] == 96
    assert type(model.neck).__name__ == 'FPN' and type(model.decode_head).__name__ == 'FPNHead'

    model.train()
    data = model.data_preprocessor(batch(2), training=True)
    losses = model(**data, mode='loss')
    assert set(losses) == {'decode.loss_ce', 'decode.acc_seg'}
    # Random labels over 150 classes: the loss starts near log(150).
    assert abs(float(losses['decode.loss_ce']) - torch.log(torch.tensor(150.0))) < 1.0
    losses['decode.loss_ce'].backward()
    # Every backbone parameter receives a gradient through the neck and head.
    for name, param in model.backbone.named_parameters():
        assert param.grad is not None and torch.isfinite(param.grad).all(), name
    stem_grad = model.backbone.downsample_layers[0][0].weight.grad
    assert stem_grad.abs().sum() > 0

    model.eval()
    with torch.no_grad():
        data = model.data_preprocessor(batch(2), training=False)
        predictions = model(**data, mode='predict')
    assert len(predictions) == 2
    for prediction in predictions:
        assert prediction.seg_logits.data.shape == (150, SIZE, SIZE)
        labels = prediction.pred_sem_seg.data
        assert labels.shape == (1, SIZE, SIZE) and 0 <= labels.min() <= labels.max() < 150
        # The predicted labels are the argmax of the logits.
        assert torch.equal(labels[0], prediction.seg_logits.data.argmax(0))
