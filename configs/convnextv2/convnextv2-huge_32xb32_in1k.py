# ConvNeXt V2-Huge on ImageNet-1K at 224x224 (evaluation of converted or trained weights).
_base_ = '../_base_/convnextv2_in1k.py'

model = dict(
    backbone=dict(arch='huge', drop_path_rate=0.3),
    head=dict(in_channels=2816, loss=dict(label_smooth_val=0.1)))
