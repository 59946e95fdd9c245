# Mask R-CNN + FPN, ConvNeXt V2-Large, COCO, the paper's recipe: large-scale jitter at 1024,
# batch 32, 3x schedule, layer decay 0.9 over the 12 groups, soft-NMS at test.
_base_ = './_base_/mask-rcnn_convnextv2_fpn_lsj-3x_coco.py'

model = dict(
    backbone=dict(arch='large', drop_path_rate=0.4,
                  init_cfg=dict(checkpoint='checkpoints/convnextv2-large_in1k.pth')),
    neck=dict(in_channels=[192, 384, 768, 1536]))
optim_wrapper = dict(paramwise_cfg=dict(layer_decay_rate=0.9))
