# Mask R-CNN + FPN, ConvNeXt V2-Femto, COCO, 1x schedule (12 epochs),
# standard multi-scale training, batch 16 (8 GPUs x 2 images).
_base_ = './_base_/mask-rcnn_convnextv2_fpn_ms-1x_coco.py'

model = dict(
    backbone=dict(arch='femto', drop_path_rate=0.1,
                  init_cfg=dict(checkpoint='checkpoints/convnextv2-femto_in1k.pth')),
    neck=dict(in_channels=[48, 96, 192, 384]))
