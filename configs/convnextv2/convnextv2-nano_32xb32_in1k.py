# ConvNeXt V2-Nano on ImageNet-1K at 224x224 (evaluation of converted or trained weights).
_base_ = '../_base_/convnextv2_in1k.py'

model = dict(
    backbone=dict(arch='nano', drop_path_rate=0.1),
    head=dict(in_channels=640, loss=dict(label_smooth_val=0.2)))
