# ConvNeXt V2-Atto on ImageNet-1K at 224x224 (evaluation of converted or trained weights).
_base_ = '../_base_/convnextv2_in1k.py'

model = dict(
    backbone=dict(arch='atto', drop_path_rate=0.1),
    head=dict(in_channels=320, loss=dict(label_smooth_val=0.2)))
