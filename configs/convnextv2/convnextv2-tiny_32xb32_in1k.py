# ConvNeXt V2-Tiny on ImageNet-1K at 224x224 (evaluation of converted or trained weights).
_base_ = '../_base_/convnextv2_in1k.py'

model = dict(
    backbone=dict(arch='tiny', drop_path_rate=0.2),
    head=dict(in_channels=768, loss=dict(label_smooth_val=0.1)))
