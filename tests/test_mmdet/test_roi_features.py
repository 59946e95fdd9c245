"""The RoI features Mask R-CNN's heads see, from our backbone and the FPN, against torchvision's
RoIAlign (an independent implementation that honours any memory layout).

mmcv's CPU RoIAlign reads raw NCHW memory: fed maps with channels-last strides, it returned wrong
features and the box head learned nothing. The backbone now returns contiguous maps."""
import torch
from mmengine.registry import init_default_scope
from torchvision.ops import roi_align

from mmconvnextv2.utils import load_config
from shapes_lab.configs import MASK_RCNN_CONFIG


def test_roi_extractor_matches_torchvision_on_our_fpn_features(tmp_path):
    from mmdet.registry import MODELS
    init_default_scope('mmdet')
    torch.manual_seed(0)
    cfg = load_config(MASK_RCNN_CONFIG, str(tmp_path))
    model = MODELS.build(cfg.model).eval()
    with torch.no_grad():
        feats = model.neck(model.backbone(torch.randn(2, 3, 224, 224)))
        # Boxes under 112 px go to the finest level (stride 4) of the extractor.
        rois = torch.tensor([[0, 10., 20., 60., 70.], [1, 100., 30., 180., 90.],
                             [0, 120., 150., 200., 210.]])
        extractor = model.roi_head.bbox_roi_extractor
        ours = extractor(feats[:extractor.num_inputs], rois)
        reference = roi_align(feats[0], rois, output_size=7, spatial_scale=1 / 4,
                              sampling_ratio=0, aligned=True)
    assert ours.shape == (3, feats[0].shape[1], 7, 7)
    torch.testing.assert_close(ours, reference, atol=1e-5, rtol=1e-5)
