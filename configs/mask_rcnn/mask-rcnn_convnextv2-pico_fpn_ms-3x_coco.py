# Mask R-CNN + FPN, ConvNeXt V2-Pico, COCO, 3x schedule (36 epochs),
# standard multi-scale training, batch 16 (8 GPUs x 2 images).
_base_ = './_base_/mask-rcnn_convnextv2_fpn_ms-3x_coco.py'

model = dict(
    backbone=dict(arch='pico', drop_path_rate=0.1,
                  init_cfg=dict(checkpoint='checkpoints/convnextv2-pico_in1k.pth')),
    neck=dict(in_channels=[64, 128, 256, 512]))
