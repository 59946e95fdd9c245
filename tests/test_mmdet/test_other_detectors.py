"""Our backbone in three other mmdet detectors, swapped in by config as a user would: Cascade Mask
R-CNN, RetinaNet and DINO build, compute finite losses that reach the backbone, and predict."""
import pytest
import torch
from mmengine import DefaultScope
from mmengine.config import Config

from mmconvnextv2.models import ConvNeXtV2

ATTO_CHANNELS = [40, 80, 160, 320]
# Besides the backbone and the neck's inputs, fewer proposals / queries keep the test fast.
DETECTORS = {
    # base config, backbone outputs, neck inputs, other model overrides
    'CascadeRCNN': ('mmdet::_base_/models/cascade-mask-rcnn_r50_fpn.py', (0, 1, 2, 3),
                    ATTO_CHANNELS, 'train_cfg=dict(rpn_proposal=dict(max_per_img=64)), '
                                   'test_cfg=dict(rpn=dict(max_per_img=64))'),
    # RetinaNet's FPN starts at level 1 of the four inputs, as with ResNet.
    'RetinaNet': ('mmdet::_base_/models/retinanet_r50_fpn.py', (0, 1, 2, 3), ATTO_CHANNELS, ''),
    # DINO picks its queries among all positions of its four levels: a 64² image has 85.
    'DINO': ('mmdet::dino/dino-4scale_r50_8xb2-12e_coco.py', (1, 2, 3), ATTO_CHANNELS[1:],
             'num_queries=50'),
}
CHILD_CONFIG = """\
_base_ = '{base}'
custom_imports = dict(imports=['mmconvnextv2.models'], allow_failed_imports=False)
model = dict(
    backbone=dict(_delete_=True, type='mmconvnextv2.ConvNeXtV2', arch='atto',
                  out_indices={out_indices}, gap_before_final_norm=False, drop_path_rate=0.1),
    neck=dict(in_channels={in_channels}),
    {extra})
"""


@pytest.mark.parametrize('detector', list(DETECTORS))
def test_backbone_trains_and_predicts_in_another_detector(detector, tmp_path):
    from mmdet.registry import MODELS
    from mmdet.testing import demo_mm_inputs
    base, out_indices, in_channels, extra = DETECTORS[detector]
    path = tmp_path / 'child.py'
    path.write_text(CHILD_CONFIG.format(base=base, out_indices=out_indices,
                                        in_channels=in_channels, extra=extra))
    cfg = Config.fromfile(str(path))
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = MODELS.build(cfg.model)
        model.init_weights()
        assert type(model).__name__ == detector
        assert isinstance(model.backbone, ConvNeXtV2)
        assert model.backbone.out_indices == out_indices

        packed = demo_mm_inputs(batch_size=2, image_shapes=(3, 64, 64), num_items=[2, 1],
                                num_classes=80, with_mask=True)
        model.train()
        losses = model(**model.data_preprocessor(packed, training=True), mode='loss')
        total, _ = model.parse_losses(losses)  # the sum the runner back-propagates
        assert torch.isfinite(total)
        total.backward()
        stem = model.backbone.downsample_layers[0][0].weight
        assert stem.grad is not None and stem.grad.abs().sum() > 0

        model.eval()
        with torch.no_grad():
            results = model(**model.data_preprocessor(packed, training=False), mode='predict')
    assert len(results) == 2
    for result, sample in zip(results, packed['data_samples']):
        boxes = result.pred_instances.bboxes
        assert boxes.ndim == 2 and boxes.shape[1] == 4
        assert len(result.pred_instances.scores) == len(boxes) == len(result.pred_instances.labels)
        # Boxes are rescaled to the original image.
        assert result.ori_shape == sample.ori_shape
